/**
 * Streams a chat completion from the network's OpenAI-compatible API (used by the chat page and the widget, which
 * calls it from another origin with `apiBase`). Parses SSE with eventsource-parser. A failed request rejects with a
 * ChatStreamError carrying the API's status and error code; a `data:` payload carrying an OpenAI error object, or
 * a stream that ends before `[DONE]`, rejects `done` with one.
 */
import { createParser } from 'eventsource-parser';
import type { ChatCompletionChunk, ErrorBody, PlainMessage, Usage } from '../protocol/api.ts';
import { DEMO_API_KEY } from '../protocol/demo-key.ts';

export interface ChatStreamRequest {
  model: string;
  messages: PlainMessage[];
  max_tokens?: number;
  temperature?: number;
  seed?: number;
  stream_options?: { include_usage: boolean };
}

export interface StreamHandle {
  backend: string | null;
  /** The seed the coordinator sampled with (x-dolphin-seed): the same request at this seed gives the same reply. */
  seed: number | null;
  /** The response's headers: who served it (x-dolphin-tab, x-dolphin-contributor, x-dolphin-backend). */
  headers: Headers;
  /** `id`: the completion's id (also its job's, for the audit API); `usage`: only with `stream_options.include_usage`. */
  done: Promise<{ finishReason: string | null; id: string | null; usage: Usage | null }>;
}

/** An error from the API (its HTTP status and OpenAI error code, when it gave them) or from the stream. */
export class ChatStreamError extends Error {
  override name = 'ChatStreamError';
  constructor(
    message: string,
    readonly status: number | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** `apiBase`: the coordinator's URL without a trailing slash ('' = this page's origin). */
export async function streamChat(request: ChatStreamRequest, onDelta: (text: string) => void, signal?: AbortSignal, apiKey = DEMO_API_KEY, apiBase = ''): Promise<StreamHandle> {
  let response: Response;
  try {
    response = await fetch(`${apiBase}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ ...request, stream: true }),
      ...(signal ? { signal } : {}),
    });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new ChatStreamError(`could not reach ${apiBase || 'the coordinator'}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!response.ok || !response.body) {
    const body = (await response.json().catch(() => null)) as Partial<ErrorBody> | null;
    throw new ChatStreamError(body?.error?.message ?? `HTTP ${response.status}`, response.status, body?.error?.code ?? null);
  }
  const body = response.body;
  const done = (async () => {
    let finishReason: string | null = null;
    let id: string | null = null;
    let usage: Usage | null = null;
    let failure: ErrorBody['error'] | null = null;
    let complete = false;
    const parser = createParser({
      onEvent(event) {
        if (event.data === '[DONE]') {
          complete = true;
          return;
        }
        const data = JSON.parse(event.data) as ChatCompletionChunk | ErrorBody;
        if ('error' in data) {
          failure = data.error;
          return;
        }
        id ??= data.id;
        if (data.usage) usage = data.usage;
        const choice = data.choices[0];
        if (choice?.delta.content) onDelta(choice.delta.content);
        if (choice?.finish_reason) finishReason = choice.finish_reason;
      },
    });
    const decoder = new TextDecoder();
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    const failed = failure as ErrorBody['error'] | null;
    if (failed) throw new ChatStreamError(failed.message, response.status, failed.code ?? null);
    if (!complete) throw new ChatStreamError('the stream ended before the reply was complete', response.status);
    return { finishReason, id, usage };
  })();
  const seed = Number(response.headers.get('x-dolphin-seed') ?? NaN);
  return { backend: response.headers.get('x-dolphin-backend'), seed: Number.isSafeInteger(seed) ? seed : null, headers: response.headers, done };
}
