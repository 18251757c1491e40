/**
 * Where headstart keeps things on one machine, from the environment. Read once per process by the
 * edges (CLI, server, Lambda) and passed down; the core never reads process.env itself.
 */
import path from 'node:path';

export interface LocalConfig {
  /** HEADSTART_HOME: the local bucket, queue state and jobs (default ./.headstart). */
  home: string;
  /** HEADSTART_BACKBONE: catalogue name of the backbone to extract with (default: the catalogue's default). */
  backbone?: string;
  /** HEADSTART_DEVICE: 'cpu' or 'cuda' for training; default cpu. */
  device: 'cpu' | 'cuda';
}

/** HEADSTART_DEVICE as asked for: 'cuda' only when it says so, else 'cpu'. The Batch trainer reads it too. */
export function deviceFromEnv(env: NodeJS.ProcessEnv = process.env): 'cpu' | 'cuda' {
  return env['HEADSTART_DEVICE'] === 'cuda' ? 'cuda' : 'cpu';
}

export function localConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig {
  return {
    home: path.resolve(env['HEADSTART_HOME'] ?? '.headstart'),
    ...(env['HEADSTART_BACKBONE'] ? { backbone: env['HEADSTART_BACKBONE'] } : {}),
    device: deviceFromEnv(env),
  };
}
