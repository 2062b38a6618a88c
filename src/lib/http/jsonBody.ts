import type { HttpRequest } from '@azure/functions';
import { ValidationError } from '../errors.js';
import { PayloadTooLargeError, UnsupportedMediaTypeError } from './httpErrors.js';
import { jsonShapeIssues } from '../domain/jsonShape.js';

export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Reads a JSON body with a hard size limit. The stream is read chunk by chunk and abandoned at the
 * limit, so an oversized (or lying Content-Length) body is never buffered whole.
 */
export async function readJsonBody(
  request: HttpRequest,
  options: { accept?: readonly string[]; maxBytes?: number } = {},
): Promise<unknown> {
  const accept = options.accept ?? ['application/json'];
  const maxBytes = options.maxBytes ?? MAX_BODY_BYTES;
  const contentType = request.headers.get('content-type');
  const mediaType = contentType?.split(';')[0]!.trim().toLowerCase();
  if (mediaType === undefined || !accept.includes(mediaType)) throw new UnsupportedMediaTypeError(contentType, accept);
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw new PayloadTooLargeError(maxBytes);

  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = (request.body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new PayloadTooLargeError(maxBytes);
      }
      chunks.push(value);
    }
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks));
  if (text.trim() === '') throw ValidationError.forField('', 'a JSON body is required');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (error) {
    throw ValidationError.forField('', `is not valid JSON: ${(error as Error).message}`);
  }
  const issues = jsonShapeIssues(parsed);
  if (issues.length > 0) throw new ValidationError(issues);
  return parsed;
}
