/**
 * Reads the image out of a predict request: raw bytes with an image/* content type, or JSON
 * `{"image": "<base64>"}` (a data: URL prefix is accepted). Anything else is a 4xx that says what
 * was wrong, before any image decoding happens.
 */
import { BadRequestError } from '../errors.js';
import type { HttpRequest } from './router.js';

// Strict base64 (standard or URL-safe alphabet, optional padding); Buffer.from would silently skip junk.
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;

export function decodeImageBody(request: HttpRequest, maxBytes: number): Uint8Array {
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (request.body.byteLength > maxBytes) {
    throw new BadRequestError(`request body is ${request.body.byteLength} bytes; the limit is ${maxBytes}`, 'payload_too_large', 413);
  }
  if (request.body.byteLength === 0) {
    throw new BadRequestError('request body is empty: send image bytes with an image/* content type, or JSON {"image": "<base64>"}', 'empty_body');
  }
  if (contentType.startsWith('image/')) return request.body;
  if (contentType === 'application/json') return imageFromJson(request.body);
  throw new BadRequestError(
    `content type ${JSON.stringify(contentType || '(none)')} is not supported: send image/* bytes or application/json {"image": "<base64>"}`,
    'unsupported_media_type',
    415,
  );
}

function imageFromJson(body: Uint8Array): Uint8Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new BadRequestError('request body is not valid JSON', 'invalid_json');
  }
  const image = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['image'] : undefined;
  if (typeof image !== 'string') throw new BadRequestError('JSON body must have a string field "image" holding the base64 of the image', 'missing_image');
  const base64 = image.replace(/^data:[^;,]*;base64,/, '').replace(/\s+/g, '');
  if (base64.length === 0) throw new BadRequestError('field "image" is empty', 'empty_body');
  if (!BASE64.test(base64)) throw new BadRequestError('field "image" is not valid base64', 'invalid_base64');
  return new Uint8Array(Buffer.from(base64, base64.includes('-') || base64.includes('_') ? 'base64url' : 'base64'));
}
