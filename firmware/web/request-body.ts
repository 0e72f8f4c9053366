/**
 * A request's body as the pages and the API take it: JSON, a URL-encoded form, or a multipart form (a file upload:
 * a backup to restore), each with a size limit; anything else is 415. A multipart form's files come as their text.
 */
import type { IncomingMessage } from 'node:http';
import { BoxError } from '../errors.ts';

/** Forms and JSON: a page's fields or an API call. */
const MAX_BODY = 64 * 1024;
/** A file upload: a backup of a box with hundreds of rooms and extensions. */
const MAX_UPLOAD = 4 * 1024 * 1024;

export type Form = Record<string, string>;

export async function readRequestBody(raw: IncomingMessage): Promise<{ form: Form; json: unknown }> {
  const header = String(raw.headers['content-type'] ?? '');
  const type = header.split(';')[0]!.trim().toLowerCase();
  const limit = type === 'multipart/form-data' ? MAX_UPLOAD : MAX_BODY;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of raw as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new BoxError(413, `the request body is larger than ${limit / 1024} KB`, undefined, 'too-large');
    chunks.push(c);
  }
  const body = Buffer.concat(chunks);
  const text = body.toString('utf8');
  if (type === 'application/json') {
    if (text.trim() === '') return { form: {}, json: {} };
    try {
      return { form: {}, json: JSON.parse(text) };
    } catch {
      throw new BoxError(400, 'the request body is not valid JSON', undefined, 'bad-json');
    }
  }
  if (type === 'application/x-www-form-urlencoded' || type === '') {
    const form: Form = {};
    for (const [k, v] of new URLSearchParams(text)) form[k] = v;
    return { form, json: form };
  }
  if (type === 'multipart/form-data') {
    let data: FormData;
    try {
      data = await new Request('http://box/', { method: 'POST', headers: { 'content-type': header }, body }).formData();
    } catch {
      throw new BoxError(400, 'the form upload could not be read', undefined, 'bad-form');
    }
    const form: Form = {};
    for (const [k, v] of data) form[k] = typeof v === 'string' ? v : await v.text();
    return { form, json: form };
  }
  throw new BoxError(415, `content type ${type} is not accepted; send JSON or a form`, undefined, 'unsupported-type');
}
