/**
 * Validation of one text example (the bytes of a `.txt` object, a CSV cell, a request body) before
 * it is tokenized or featurised. Every refusal is an {@link InvalidTextError} with a reason that is
 * recorded per object, so a bad file never stops the rest of an upload.
 */
import { InvalidTextError } from '../errors.js';

/** The largest text accepted: an inquiry is a few sentences; 64 KB is far past any of them. */
export const MAX_TEXT_BYTES = 64 * 1024;

/** Share of control characters (other than tab, newline, carriage return, form feed) that marks a binary file. */
const CONTROL_SHARE = 0.05;

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function isControl(code: number): boolean {
  return (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d && code !== 0x0c) || code === 0x7f;
}

/**
 * UTF-8 bytes -> the text, NFC-normalised (so "café" typed on macOS and on Linux is one example),
 * or the reason it cannot be used. Checked in this order, so the reason is the most useful one:
 * binary at a glance (a NUL in the first 8 KB), size, binary (a NUL anywhere, or many control characters: an image or an archive, not text), UTF-8,
 * then empty or whitespace-only.
 */
export function decodeText(bytes: Uint8Array, maxBytes = MAX_TEXT_BYTES): string {
  // A NUL in the first 8 KB says "binary" before the size does: a photo named .txt is not text, and saying so helps more than its size.
  if (bytes.subarray(0, 8192).includes(0)) {
    throw new InvalidTextError('binary_file', 'not a text file: it contains NUL bytes (a binary file such as an image?)');
  }
  if (bytes.byteLength > maxBytes) {
    throw new InvalidTextError('text_too_large', `text is ${bytes.byteLength} bytes; the limit is ${maxBytes} bytes (${maxBytes / 1024} KB)`);
  }
  if (bytes.includes(0)) {
    throw new InvalidTextError('binary_file', 'not a text file: it contains NUL bytes (a binary file such as an image?)');
  }
  let text: string;
  try {
    text = fatalDecoder.decode(bytes);
  } catch (error) {
    throw new InvalidTextError('invalid_utf8', 'text is not valid UTF-8 (save it as UTF-8)', { cause: error });
  }
  return checkText(text);
}

/** A string already decoded (a CSV cell, a JSON field): the same checks but the UTF-8 one. */
export function checkText(text: string, maxBytes = MAX_TEXT_BYTES): string {
  let controls = 0;
  for (let i = 0; i < text.length; i++) if (isControl(text.charCodeAt(i))) controls++;
  if (text.length > 0 && controls / text.length > CONTROL_SHARE) {
    throw new InvalidTextError('binary_file', `not a text file: ${controls} of ${text.length} characters are control characters`);
  }
  if (text.includes('\u0000')) throw new InvalidTextError('binary_file', 'not a text: it contains NUL characters');
  const normalized = text.normalize('NFC');
  if (Buffer.byteLength(normalized, 'utf8') > maxBytes) {
    throw new InvalidTextError('text_too_large', `text is ${Buffer.byteLength(normalized, 'utf8')} bytes; the limit is ${maxBytes} bytes (${maxBytes / 1024} KB)`);
  }
  if (normalized.trim().length === 0) {
    throw new InvalidTextError('empty_text', normalized.length === 0 ? 'text is empty' : 'text is only whitespace');
  }
  return normalized;
}

/** {@link decodeText} that returns the error in place of throwing, for per-object batches. */
export function tryDecodeText(bytes: Uint8Array): string | InvalidTextError {
  try {
    return decodeText(bytes);
  } catch (error) {
    if (error instanceof InvalidTextError) return error;
    throw error;
  }
}

/** Is this dataset object key a text example? Texts are `.txt` objects; everything else is an image. */
export function isTextKey(key: string): boolean {
  return /\.txt$/i.test(key);
}
