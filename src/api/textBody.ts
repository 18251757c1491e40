/**
 * Reads a text out of a predict request: a `text/plain` body (UTF-8), or JSON `{"text": "..."}`.
 * Returns undefined for anything else (an image request), so the route falls through to the image
 * body reader; a text request that is unusable is a 4xx naming the problem.
 */
import { BadRequestError } from '../errors.js';
import { checkText, decodeText } from '../text/validateText.js';
import type { HttpRequest } from './router.js';

export function textFromRequest(request: HttpRequest, maxBytes: number): string | undefined {
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (request.body.byteLength > maxBytes) return undefined; // the image reader answers 413 with the limit
  if (contentType === 'text/plain') return decodeText(request.body);
  if (contentType !== 'application/json' || request.body.byteLength === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(request.body));
  } catch {
    throw new BadRequestError('request body is not valid JSON', 'invalid_json');
  }
  if (typeof parsed !== 'object' || parsed === null || !('text' in parsed)) return undefined;
  const text = (parsed as Record<string, unknown>)['text'];
  if (typeof text !== 'string') throw new BadRequestError('JSON field "text" must be a string', 'missing_text');
  return checkText(text);
}
