/**
 * The widget's JS API (window.Dolphin): streaming chat completions from the network without the UI. Input is
 * checked here so a page's mistake gets a TypeError naming the field before any request; the coordinator's own
 * errors arrive as ChatStreamError (HTTP status and OpenAI error code).
 */
import { ChatStreamError, streamChat, type ChatStreamRequest } from '../lib/chat-stream.ts';
import type { PlainMessage } from '../protocol/api.ts';

export interface CompletionInput {
  messages: PlainMessage[];
  /** Default: the widget's data-model. */
  model?: string;
  max_tokens?: number;
  temperature?: number;
  seed?: number;
  signal?: AbortSignal;
}

export interface CompletionResult {
  text: string;
  finishReason: string | null;
  model: string;
  /** The seed it was sampled with: the same input at this seed gives the same text. */
  seed: number | null;
  /** The contributor's backend (wasm or webgpu). */
  backend: string | null;
}

export interface DolphinClient {
  /** Streams the reply: `onDelta` gets each piece of text as it arrives; resolves with the whole reply. */
  stream(input: CompletionInput, onDelta: (text: string) => void): Promise<CompletionResult>;
  /** The whole reply at once. */
  complete(input: CompletionInput): Promise<CompletionResult>;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant']);

function fail(message: string): never {
  throw new TypeError(`Dolphin: ${message}`);
}

/** The API request for `input` (validated), with `model` when it names none. Throws a TypeError naming the field. */
export function completionRequest(input: unknown, model: string): ChatStreamRequest {
  if (typeof input !== 'object' || input === null) fail('expected an object like { messages: [{ role: "user", content: "Hi" }] }');
  const { messages, model: asked, max_tokens, temperature, seed, signal } = input as Record<string, unknown>;
  if (!Array.isArray(messages) || messages.length === 0) fail('messages must be a non-empty array of { role, content }');
  const plain = messages.map((m: unknown, i): PlainMessage => {
    const { role, content } = (typeof m === 'object' && m !== null ? m : {}) as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.has(role)) fail(`messages[${i}].role must be one of ${[...ROLES].join(', ')}`);
    if (typeof content !== 'string') fail(`messages[${i}].content must be a string`);
    return { role: role as PlainMessage['role'], content };
  });
  if (asked !== undefined && (typeof asked !== 'string' || !asked)) fail('model must be a non-empty string');
  const request: ChatStreamRequest = { model: (asked as string | undefined) ?? model, messages: plain };
  if (max_tokens !== undefined) {
    if (!Number.isInteger(max_tokens) || (max_tokens as number) < 1) fail('max_tokens must be a positive integer');
    request.max_tokens = max_tokens as number;
  }
  if (temperature !== undefined) {
    if (typeof temperature !== 'number' || !(temperature >= 0 && temperature <= 2)) fail('temperature must be a number from 0 to 2');
    request.temperature = temperature;
  }
  if (seed !== undefined) {
    if (!Number.isSafeInteger(seed) || (seed as number) < 0) fail('seed must be a non-negative integer');
    request.seed = seed as number;
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) fail('signal must be an AbortSignal');
  return request;
}

export function createClient(options: { apiBase: string; apiKey: string; model: string }): DolphinClient {
  const stream = async (input: CompletionInput, onDelta: (text: string) => void): Promise<CompletionResult> => {
    const request = completionRequest(input, options.model);
    if (typeof onDelta !== 'function') fail('stream(input, onDelta) needs onDelta, a function called with each piece of text');
    let text = '';
    const handle = await streamChat(
      request,
      (delta) => {
        text += delta;
        onDelta(delta);
      },
      input.signal,
      options.apiKey,
      options.apiBase,
    );
    const { finishReason } = await handle.done;
    return { text, finishReason, model: request.model, seed: handle.seed, backend: handle.backend };
  };
  return { stream, complete: (input) => stream(input, () => {}) };
}

export { ChatStreamError };
