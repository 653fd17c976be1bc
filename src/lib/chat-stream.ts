/**
 * Streams a chat completion from the network's OpenAI-compatible API (used by the chat page and, later, the
 * widget). Parses SSE with eventsource-parser. A `data:` payload carrying an OpenAI error object, or a stream that
 * ends before `[DONE]`, rejects `done`.
 */
import { createParser } from 'eventsource-parser';
import type { ChatCompletionChunk, ErrorBody, PlainMessage, Usage } from '../protocol/api.ts';
import { DEMO_API_KEY } from '../protocol/accounts.ts';

export interface StreamHandle {
  backend: string | null;
  /** The response's headers: who served it (x-dolphin-tab, x-dolphin-contributor, x-dolphin-backend) and its seed. */
  headers: Headers;
  /** `id`: the completion's id (also its job's, for the audit API); `usage`: only with `stream_options.include_usage`. */
  done: Promise<{ finishReason: string | null; id: string | null; usage: Usage | null }>;
}

export async function streamChat(
  request: { model: string; messages: PlainMessage[]; max_tokens?: number; temperature?: number; seed?: number; stream_options?: { include_usage: boolean } },
  onDelta: (text: string) => void,
  signal?: AbortSignal,
  apiKey = DEMO_API_KEY,
): Promise<StreamHandle> {
  const response = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ ...request, stream: true }),
    ...(signal ? { signal } : {}),
  });
  if (!response.ok || !response.body) {
    const body = (await response.json().catch(() => null)) as ErrorBody | null;
    throw new Error(body?.error.message ?? `HTTP ${response.status}`);
  }
  const body = response.body;
  const done = (async () => {
    let finishReason: string | null = null;
    let id: string | null = null;
    let usage: Usage | null = null;
    let failure: string | null = null;
    let complete = false;
    const parser = createParser({
      onEvent(event) {
        if (event.data === '[DONE]') {
          complete = true;
          return;
        }
        const data = JSON.parse(event.data) as ChatCompletionChunk | ErrorBody;
        if ('error' in data) {
          failure = data.error.message;
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
    if (failure) throw new Error(failure);
    if (!complete) throw new Error('the stream ended before the reply was complete');
    return { finishReason, id, usage };
  })();
  return { backend: response.headers.get('x-dolphin-backend'), headers: response.headers, done };
}
