/**
 * Deployment settings, read from CDK context (cdk.json "context" or `cdk synth -c key=value`).
 * Values from the command line arrive as strings, values from cdk.json keep their JSON type;
 * both are accepted. A bad value fails synth with the key and what it accepts.
 *
 *   bucketNamePrefix   physical bucket names <prefix>-data-<account>-<region> (default: generated names)
 *   destroy            true: buckets and log groups are deleted with the stack (dev); default false (RETAIN)
 *   auth               iam (default) | jwt; jwt needs jwtIssuer and jwtAudience (comma-separated)
 *   spot               true: the GPU compute environment uses Spot instances
 *   maxVcpus           the compute environment's ceiling (default 16)
 *   backbone           default DEFAULT_BACKBONE of src/backbone/catalogue.ts (mobilenetv2-12-fp32-embed)
 *   textBackbone       a text encoder shipped in the extract and infer functions (encoder .onnx and
 *                      tokenizer.json, sha256-checked at packaging and at load): a TEXT_CATALOGUE name
 *                      (minilm-l6-v2 after `npm run fetch-models -- minilm-l6-v2`; tiny-bert-random for
 *                      tests) or a name registered with `headstart backbone add --text` in HEADSTART_HOME.
 *                      Absent (default): no encoder, texts take the TF-IDF path
 *   logLevel           Powertools LOG_LEVEL (default INFO)
 *   throttleRate       API steady-state requests per second (default 20)
 *   throttleBurst      API burst (default 40)
 *   extractMemoryMb    default 1769: one full vCPU (Lambda allots CPU by memory); a batch of the 10
 *                      largest hymenoptera photos peaked at 278 MiB RSS (bench/extract-memory.ts), and a
 *                      50-megapixel upload decodes to ~150 MB, so this leaves room for several at once
 *   inferMemoryMb      default 1769: one full vCPU for onnxruntime; the bundled handler peaked at 190 MiB
 *                      RSS over 30 predictions (bench/infer-latency.ts)
 *   consoleOrigin      the web console's origin (e.g. http://127.0.0.1:8080): the API answers CORS for it
 *                      and the data bucket accepts its presigned uploads; no CORS at all when absent
 */
import type { Node } from 'constructs';
import { DEFAULT_BACKBONE } from '../../src/backbone/catalogue.js';

export type AuthConfig = { mode: 'iam' } | { mode: 'jwt'; issuer: string; audience: string[] };

export interface PipelineConfig {
  bucketNamePrefix: string | undefined;
  destroyOnRemoval: boolean;
  auth: AuthConfig;
  spot: boolean;
  maxVcpus: number;
  backbone: string;
  textBackbone: string | undefined;
  logLevel: string;
  throttle: { rateLimit: number; burstLimit: number };
  extractMemoryMb: number;
  inferMemoryMb: number;
  consoleOrigin: string | undefined;
}

const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT', 'CRITICAL'];

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`context ${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

export function pipelineConfig(node: Node): PipelineConfig {
  const raw = (key: string): unknown => node.tryGetContext(key);
  const auth = readAuth(raw);
  const prefix = optionalString(raw, 'bucketNamePrefix');
  if (prefix !== undefined && !/^[a-z0-9][a-z0-9-]{0,29}$/.test(prefix)) {
    throw new ConfigError('bucketNamePrefix', 'use 1-30 lowercase letters, digits and hyphens, starting with a letter or digit');
  }
  const logLevel = (optionalString(raw, 'logLevel') ?? 'INFO').toUpperCase();
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('logLevel', `one of ${LOG_LEVELS.join(', ')}`);
  return {
    bucketNamePrefix: prefix,
    destroyOnRemoval: flag(raw, 'destroy'),
    auth,
    spot: flag(raw, 'spot'),
    maxVcpus: integer(raw, 'maxVcpus', 16, 4, 1024),
    backbone: optionalString(raw, 'backbone') ?? DEFAULT_BACKBONE,
    textBackbone: optionalString(raw, 'textBackbone'),
    logLevel,
    throttle: { rateLimit: integer(raw, 'throttleRate', 20, 1, 10_000), burstLimit: integer(raw, 'throttleBurst', 40, 1, 5_000) },
    extractMemoryMb: integer(raw, 'extractMemoryMb', 1769, 1024, 10_240),
    inferMemoryMb: integer(raw, 'inferMemoryMb', 1769, 1024, 10_240),
    consoleOrigin: readOrigin(raw),
  };
}

function readAuth(raw: (key: string) => unknown): AuthConfig {
  const mode = optionalString(raw, 'auth') ?? 'iam';
  if (mode === 'iam') return { mode };
  if (mode !== 'jwt') throw new ConfigError('auth', `"iam" or "jwt", got ${JSON.stringify(mode)}`);
  const issuer = optionalString(raw, 'jwtIssuer');
  if (!issuer || !/^https:\/\//.test(issuer)) throw new ConfigError('jwtIssuer', 'auth=jwt needs the issuer URL (https://...)');
  const audienceRaw = raw('jwtAudience');
  const audience = (Array.isArray(audienceRaw) ? audienceRaw.map(String) : String(audienceRaw ?? '').split(','))
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
  if (audience.length === 0) throw new ConfigError('jwtAudience', 'auth=jwt needs at least one audience (comma-separated)');
  return { mode, issuer, audience };
}

/** An origin is a scheme, a host and maybe a port: nothing else may reach an Access-Control-Allow-Origin. */
function readOrigin(raw: (key: string) => unknown): string | undefined {
  const value = optionalString(raw, 'consoleOrigin');
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError('consoleOrigin', `an origin like https://console.example.com or http://127.0.0.1:8080, got ${JSON.stringify(value)}`);
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.origin !== value.replace(/\/$/, '')) {
    throw new ConfigError('consoleOrigin', `an origin (scheme://host[:port], no path), got ${JSON.stringify(value)}`);
  }
  return url.origin;
}

function optionalString(raw: (key: string) => unknown, key: string): string | undefined {
  const value = raw(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new ConfigError(key, `expected a string, got ${JSON.stringify(value)}`);
  return value.trim();
}

function flag(raw: (key: string) => unknown, key: string): boolean {
  const value = raw(key);
  if (value === undefined || value === null || value === false || value === 'false' || value === '') return false;
  if (value === true || value === 'true') return true;
  throw new ConfigError(key, `true or false, got ${JSON.stringify(value)}`);
}

function integer(raw: (key: string) => unknown, key: string, fallback: number, min: number, max: number): number {
  const value = raw(key);
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(key, `an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}
