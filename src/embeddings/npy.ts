/**
 * NumPy's .npy format (version 1.0) for float32 matrices, so packed embeddings open with one line of
 * numpy: `np.load("shard-000000.npy")`. Only what headstart writes is read back: little-endian
 * float32, C order, two dimensions.
 */
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

export function encodeNpy(matrix: Float32Array, rows: number, cols: number): Uint8Array {
  if (matrix.length !== rows * cols) throw new RangeError(`matrix has ${matrix.length} values, not ${rows} x ${cols}`);
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  // Magic (6) + version (2) + header length (2) + header + '\n' is padded to a multiple of 64.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + matrix.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(matrix.buffer, matrix.byteOffset, matrix.byteLength), 10 + header.length);
  return out;
}

export interface NpyMatrix {
  rows: number;
  cols: number;
  /** Byte offset of the data in the file's bytes. */
  dataOffset: number;
}

export function parseNpyHeader(bytes: Uint8Array): NpyMatrix {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error('not a .npy file');
  if (bytes[6] !== 1) throw new Error(`unsupported .npy version ${bytes[6]}`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
  if (!header.includes("'descr': '<f4'") || !header.includes("'fortran_order': False")) throw new Error(`.npy is not little-endian float32 in C order: ${header.trim()}`);
  const shape = /'shape': \((\d+), (\d+)\)/.exec(header);
  if (!shape) throw new Error(`.npy is not a matrix: ${header.trim()}`);
  const rows = Number(shape[1]);
  const cols = Number(shape[2]);
  const dataOffset = 10 + headerLength;
  if (bytes.length !== dataOffset + rows * cols * 4) throw new Error(`.npy holds ${bytes.length - dataOffset} data bytes, expected ${rows * cols * 4}`);
  return { rows, cols, dataOffset };
}

/** The matrix's values, copied into an aligned Float32Array. */
export function decodeNpy(bytes: Uint8Array): { matrix: Float32Array } & NpyMatrix {
  const header = parseNpyHeader(bytes);
  const copy = new Uint8Array(header.rows * header.cols * 4);
  copy.set(bytes.subarray(header.dataOffset));
  return { ...header, matrix: new Float32Array(copy.buffer) };
}
