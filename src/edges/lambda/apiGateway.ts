/**
 * API Gateway (HTTP API, payload format 2.0) <-> the shared router. Binary image bodies arrive
 * base64-encoded with isBase64Encoded set; everything else about routing lives in the router.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { route, type ApiContext, type HttpRequest, type HttpResponse } from '../../api/router.js';

export function toHttpRequest(event: APIGatewayProxyEventV2): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  const body = event.body === undefined ? new Uint8Array(0) : new Uint8Array(Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8'));
  return { method: event.requestContext.http.method, path: event.rawPath, ...(event.rawQueryString ? { query: event.rawQueryString } : {}), headers, body };
}

export function toApiGatewayResult(response: HttpResponse): APIGatewayProxyStructuredResultV2 {
  if (typeof response.body === 'string') return { statusCode: response.status, headers: response.headers, body: response.body, isBase64Encoded: false };
  return { statusCode: response.status, headers: response.headers, body: Buffer.from(response.body).toString('base64'), isBase64Encoded: true };
}

export function makeInferHandler(context: ApiContext): (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2> {
  return async (event) => toApiGatewayResult(await route(toHttpRequest(event), context));
}
