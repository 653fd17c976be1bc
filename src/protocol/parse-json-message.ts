/**
 * The one way a wire's JSON text message is read: a text frame, at most `maxChars` long, valid JSON, and valid
 * against the wire's schema — or an error that says which of these it was not.
 */
import { z } from 'zod';

export type ParseResult<T> = { ok: true; message: T } | { ok: false; error: string };

export function parseJsonMessage<T>(schema: z.ZodType<T>, raw: unknown, maxChars: number): ParseResult<T> {
  if (typeof raw !== 'string') return { ok: false, error: 'expected a text frame' };
  if (raw.length > maxChars) return { ok: false, error: `message exceeds ${maxChars} characters` };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, error: 'message is not valid JSON' };
  }
  const result = schema.safeParse(json);
  if (!result.success) return { ok: false, error: z.prettifyError(result.error) };
  return { ok: true, message: result.data };
}
