/** Request bodies: JSON, validated by a zod schema, every problem a 400 in the API's error shape naming the field. */
import type { z } from 'zod';
import { ApiError, invalidRequest } from './errors.ts';

export function parseJsonBody<S extends z.ZodType>(text: string, schema: S): z.infer<S> {
  let json: unknown;
  try {
    json = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw invalidRequest('We could not parse the JSON body of your request. The body must be a JSON object.', null, 'invalid_json');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalidRequest('The request body must be a JSON object.', null, 'invalid_json');
  const result = schema.safeParse(json);
  if (!result.success) throw fromZodIssue(result.error.issues[0], json as Record<string, unknown>);
  return result.data;
}

export function fromZodIssue(issue: z.core.$ZodIssue | undefined, body: Record<string, unknown>): ApiError {
  if (!issue) return invalidRequest('Invalid request.');
  const param = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('') || null;
  const top = issue.path[0];
  if (issue.path.length === 1 && typeof top === 'string' && !(top in body)) return invalidRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
  if (issue.code === 'unrecognized_keys') return invalidRequest(`Unrecognized request argument supplied: ${issue.keys.join(', ')}.`, issue.keys[0] ?? null, 'unknown_parameter');
  const code = issue.code === 'custom' && typeof issue.params?.['code'] === 'string' ? issue.params['code'] : 'invalid_value';
  return invalidRequest(`Invalid value for '${param}': ${issue.message}.`, param, code);
}

/** `limit` (1..100, default 20) and `before` (a cursor) from a query string. */
export function pageQuery(limit: string | undefined, before: string | undefined): { limit: number; before?: number } {
  const n = limit === undefined ? 20 : Number(limit);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw invalidRequest("Invalid value for 'limit': an integer from 1 to 100.", 'limit');
  if (before === undefined) return { limit: n };
  const b = Number(before);
  if (!Number.isSafeInteger(b) || b < 1) throw invalidRequest("Invalid value for 'before': a cursor from an earlier page.", 'before');
  return { limit: n, before: b };
}
