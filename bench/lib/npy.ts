/** Minimal .npy (format 1.0) reading and writing of little-endian float32 / int32 matrices, for python baselines. */
import { readFile, writeFile } from 'node:fs/promises';

const MAGIC = '\x93NUMPY';

export async function writeNpy(file: string, data: Float32Array | Int32Array, shape: readonly number[]): Promise<void> {
  const descr = data instanceof Float32Array ? '<f4' : '<i4';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  // Magic (6) + version (2) + header length (2) + header + newline, padded to a multiple of 64.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const head = Buffer.alloc(10 + header.length);
  head.write(MAGIC, 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  head.write(header, 10, 'latin1');
  await writeFile(file, Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

export async function readNpy(file: string): Promise<{ data: Float32Array | Int32Array; shape: number[] }> {
  const bytes = await readFile(file);
  if (bytes.toString('latin1', 0, 6) !== MAGIC) throw new Error(`${file} is not a .npy file`);
  const length = bytes.readUInt16LE(8);
  const header = bytes.toString('latin1', 10, 10 + length);
  const descr = /'descr': '([^']+)'/.exec(header)?.[1];
  const shape = (/'shape': \(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const start = 10 + length;
  const body = bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length);
  if (descr === '<f4') return { data: new Float32Array(body), shape };
  if (descr === '<i4') return { data: new Int32Array(body), shape };
  throw new Error(`${file}: unsupported dtype ${descr}`);
}
