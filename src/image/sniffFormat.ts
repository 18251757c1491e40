/**
 * Recognises an image container from its first bytes, before any decoder sees them.
 *
 * libvips will happily load SVG (librsvg), PDF, PPM, FITS and more from a buffer. We never want
 * those parsers to run on untrusted uploads (an SVG can reference external files; PDF and
 * friends widen the attack surface), so only bytes whose signature is one of the accepted
 * formats are ever handed to sharp. Known-but-refused formats are named so the user learns what
 * to convert; anything else is simply "not an image".
 */

/** Containers headstart decodes. `heif` covers AVIF (and HEIC where the decoder can). */
export type AcceptedFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'heif';

export const ACCEPTED_FORMATS: readonly AcceptedFormat[] = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'];

export type SniffResult = { accepted: AcceptedFormat } | { refused: string } | { unknown: true };

function startsWith(bytes: Uint8Array, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false;
  return signature.every((b, i) => bytes[offset + i] === b);
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < Math.min(end, bytes.length); i++) s += String.fromCharCode(bytes[i] ?? 0);
  return s;
}

/** ISO base media file (HEIF/AVIF/MP4...): a `ftyp` box first, with a major brand. */
function isoBrand(bytes: Uint8Array): string | undefined {
  if (ascii(bytes, 4, 8) !== 'ftyp') return undefined;
  return ascii(bytes, 8, 12);
}

const HEIF_BRANDS = new Set(['avif', 'avis', 'heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1']);

/** Text that looks like XML or SVG markup (after an optional BOM and whitespace). */
function looksLikeMarkup(bytes: Uint8Array): 'svg' | 'xml' | undefined {
  const head = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, 4096)).replace(/^\uFEFF/, '').trimStart().toLowerCase();
  if (!head.startsWith('<')) return undefined;
  return head.includes('<svg') ? 'svg' : head.startsWith('<?xml') || head.startsWith('<!doctype') ? 'xml' : undefined;
}

function isBmp(bytes: Uint8Array): boolean {
  if (!startsWith(bytes, [0x42, 0x4d]) || bytes.length < 18) return false;
  const dibHeaderSize = (bytes[14] ?? 0) | ((bytes[15] ?? 0) << 8) | ((bytes[16] ?? 0) << 16) | ((bytes[17] ?? 0) << 24);
  return [12, 40, 52, 56, 64, 108, 124].includes(dibHeaderSize);
}

export function sniffFormat(bytes: Uint8Array): SniffResult {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return { accepted: 'jpeg' };
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { accepted: 'png' };
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return { accepted: 'webp' };
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return { accepted: 'gif' };
  // Classic TIFF (II*\0, MM\0*) and BigTIFF (II+\0, MM\0+).
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return { accepted: 'tiff' };
  if (startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])) return { accepted: 'tiff' };
  const brand = isoBrand(bytes);
  if (brand !== undefined) return HEIF_BRANDS.has(brand) ? { accepted: 'heif' } : { refused: `ISO media file (brand "${brand.trim()}", e.g. video)` };

  const markup = looksLikeMarkup(bytes);
  if (markup === 'svg') return { refused: 'SVG' };
  if (markup === 'xml') return { refused: 'XML document' };
  if (startsWith(bytes, [0x1f, 0x8b])) return { refused: 'gzip data (SVGZ or a compressed file)' };
  if (ascii(bytes, 0, 5) === '%PDF-') return { refused: 'PDF' };
  if (isBmp(bytes)) return { refused: 'BMP' };
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00]) || startsWith(bytes, [0x00, 0x00, 0x02, 0x00])) return { refused: 'ICO/CUR icon' };
  if (ascii(bytes, 0, 4) === '8BPS') return { refused: 'Photoshop PSD' };
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])) return { refused: 'JPEG 2000' };
  if (startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return { refused: 'JPEG XL' };
  if (startsWith(bytes, [0x76, 0x2f, 0x31, 0x01])) return { refused: 'OpenEXR' };
  if (ascii(bytes, 0, 9) === 'SIMPLE  =') return { refused: 'FITS' };
  if (/^P[1-7]\s/.test(ascii(bytes, 0, 3))) return { refused: 'Netpbm (PPM/PGM/PBM)' };
  return { unknown: true };
}
