import { describe, expect, it } from 'vitest';
import { InvalidTextError } from '../../../src/errors.js';
import { decodeText, isTextKey, MAX_TEXT_BYTES, tryDecodeText } from '../../../src/text/validateText.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const reason = (bytes: Uint8Array): string => {
  const r = tryDecodeText(bytes);
  return r instanceof InvalidTextError ? r.reason : 'ok';
};

describe('decodeText', () => {
  it('accepts UTF-8 text, drops a BOM and composes to NFC', () => {
    expect(decodeText(utf8('\uFEFFcafe\u0301 ?'))).toBe('café ?');
    expect(decodeText(utf8('カードが届きません'))).toBe('カードが届きません');
  });
  it('refuses empty, whitespace-only, invalid UTF-8, binary and oversized texts, each with its reason', () => {
    expect(reason(new Uint8Array(0))).toBe('empty_text');
    expect(reason(utf8(' \n\t '))).toBe('empty_text');
    expect(reason(Uint8Array.from([0x68, 0xc3, 0x28]))).toBe('invalid_utf8');
    expect(reason(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]))).toBe('binary_file');
    expect(reason(utf8('\u0001\u0002\u0003\u0004abc'))).toBe('binary_file');
    expect(reason(utf8('a'.repeat(MAX_TEXT_BYTES + 1)))).toBe('text_too_large');
    expect(reason(utf8('a'.repeat(MAX_TEXT_BYTES)))).toBe('ok');
  });
  it('gives 413 for too large and 400 otherwise', () => {
    expect((tryDecodeText(utf8('a'.repeat(MAX_TEXT_BYTES + 1))) as InvalidTextError).status).toBe(413);
    expect((tryDecodeText(utf8('')) as InvalidTextError).status).toBe(400);
  });
  it('tells text keys by extension', () => {
    expect(isTextKey('datasets/d/l/a.txt')).toBe(true);
    expect(isTextKey('datasets/d/l/a.TXT')).toBe(true);
    expect(isTextKey('datasets/d/l/a.jpg')).toBe(false);
  });
});
