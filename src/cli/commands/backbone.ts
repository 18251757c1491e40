/**
 * `headstart backbone add <file> --name N --feature-tensor T` turns any ONNX image classifier into a
 * backbone (headstart adds a pooled `embedding` output); `headstart backbones` lists the ones this
 * machine can use (catalogue files present, plus registered ones).
 */
import path from 'node:path';
import { registerBackbone } from '../../backbone/registerBackbone.js';
import { listBackbones } from '../../backbone/resolveBackbone.js';
import type { LocalRuntime } from '../../local/LocalRuntime.js';
import { printJson, printLine, table } from '../output.js';
import type { BackboneSpec } from '../../backbone/catalogue.js';

export async function addBackboneCommand(
  runtime: LocalRuntime,
  file: string,
  options: { name: string; featureTensor?: string; input?: string; json?: boolean },
): Promise<void> {
  const registered = await registerBackbone(path.resolve(file), { name: options.name, ...(options.featureTensor ? { featureTensor: options.featureTensor } : {}), ...(options.input ? { inputName: options.input } : {}) }, runtime.backbonesDir);
  if (options.json) {
    printJson({ id: registered.id, name: registered.spec.name, embeddingSize: registered.spec.embeddingSize, featureTensor: pooledTensor(registered.spec), entry: registered.entryFile });
    return;
  }
  printLine(`registered ${registered.id}: ${registered.spec.embeddingSize}-value embedding pooled from tensor ${pooledTensor(registered.spec)}${options.featureTensor ? '' : ' (found: the input of the last global pooling)'}`);
  printLine(`use it with: headstart train <dataset> --backbone ${registered.spec.name}, or HEADSTART_BACKBONE=${registered.spec.name} to extract with it`);
}

export async function listBackbonesCommand(runtime: LocalRuntime, options: { json?: boolean }): Promise<void> {
  const listed = await listBackbones(runtime.backbonesDir);
  if (options.json) {
    printJson(listed.map((b) => ({ id: b.id, name: b.spec.name, embeddingSize: b.spec.embeddingSize, registered: b.registered, path: b.path })));
    return;
  }
  printLine(table([['name', 'id', 'embedding', 'source'], ...listed.map((b) => [b.spec.name, b.id, b.spec.embeddingSize, b.registered ? 'registered' : 'catalogue'])]));
}

function pooledTensor(spec: BackboneSpec): string {
  return 'output' in spec.embedding ? spec.embedding.output : (spec.embedding.featureTensor ?? '');
}
