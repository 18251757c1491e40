/** The parts of a request the JSON routes read: the query string and a JSON object body. */
import { BadRequestError } from '../errors.js';
import type { HttpRequest } from './router.js';

export function queryParams(request: HttpRequest): URLSearchParams {
  const query = request.query ?? request.path.split('?')[1] ?? '';
  return new URLSearchParams(query);
}

/** The body as a JSON object, or a 400/415 that says what is wrong with it. */
export function jsonBody(request: HttpRequest): Record<string, unknown> {
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (contentType !== 'application/json') {
    throw new BadRequestError(`content type ${JSON.stringify(contentType || '(none)')} is not supported: send application/json`, 'unsupported_media_type', 415);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(request.body));
  } catch {
    throw new BadRequestError('request body is not valid JSON', 'invalid_json');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadRequestError('request body must be a JSON object', 'invalid_json');
  return parsed as Record<string, unknown>;
}
