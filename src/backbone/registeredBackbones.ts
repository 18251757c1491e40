/**
 * User-registered backbones: one JSON file per backbone in a folder the caller owns (the CLI uses
 * <HEADSTART_HOME>/backbones). Each holds a full {@link BackboneSpec} with an absolute model path.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { HeadstartError, InvalidNameError } from '../errors.js';
import type { BackboneSpec } from './catalogue.js';

const BACKBONE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function validateBackboneName(name: string): void {
  if (!BACKBONE_NAME.test(name)) {
    throw new InvalidNameError(
      `backbone name ${JSON.stringify(name)} is not allowed: use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit`,
      { context: { name } },
    );
  }
}

const triple = z.tuple([z.number(), z.number(), z.number()]);

const specSchema = z.object({
  name: z.string().regex(BACKBONE_NAME),
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  inputName: z.string().min(1),
  inputShape: z.tuple([z.literal(3), z.number().int().positive(), z.number().int().positive()]),
  preprocessing: z.object({
    resizeShorter: z.number().int().positive(),
    crop: z.number().int().positive(),
    mean: triple,
    std: triple,
    interpolation: z.enum(['bilinear', 'bicubic', 'nearest']),
  }),
  embedding: z.union([z.object({ output: z.string().min(1) }), z.object({ featureTensor: z.string().min(1), pool: z.literal('mean') })]),
  embeddingSize: z.number().int().positive(),
  classifierOutput: z.string().min(1).optional(),
  labelsFile: z.string().min(1).optional(),
  source: z.object({ url: z.string(), sha256: z.string() }).optional(),
  description: z.string().optional(),
});

export function registeredSpecFile(dir: string, name: string): string {
  return path.join(dir, `${name}.json`);
}

export async function writeRegisteredBackbone(dir: string, spec: BackboneSpec): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = registeredSpecFile(dir, spec.name);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(spec, null, 2)}\n`);
  await rename(tmp, file);
  return file;
}

/** Every registered spec in `dir` (none when it does not exist). A malformed file is an error, not skipped. */
export async function readRegisteredBackbones(dir: string): Promise<BackboneSpec[]> {
  return readRegisteredSpecs(dir, specSchema, 'backbone') as Promise<BackboneSpec[]>;
}

/** The `*.json` specs in `dir`, each checked by `schema`, sorted by file name; `kind` names them in errors. */
export async function readRegisteredSpecs<T>(dir: string, schema: z.ZodType<T>, kind: string): Promise<T[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const specs: T[] = [];
  for (const entry of entries.filter((e) => e.endsWith('.json')).sort()) {
    const file = path.join(dir, entry);
    const parsed = schema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (!parsed.success) {
      throw new HeadstartError(`registered ${kind} ${file} is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, 'invalid_backbone_entry', 500, {
        context: { file },
      });
    }
    specs.push(parsed.data);
  }
  return specs;
}
