/**
 * The OpenAI-compatible HTTP API: request schema (validated at the edge), response and stream-chunk shapes,
 * and the error envelope. Shared by the coordinator, the chat page and the widget.
 */
import { z } from 'zod';

/** Limits that protect the coordinator; a model's own context limit is checked when the job runs. */
/** `maxStopChars`: each stop sequence is scanned for on every token, by the tab and by the coordinator. */
export const API_LIMITS = { maxMessages: 256, maxContentChars: 200_000, maxTopLogprobs: 20, maxStopChars: 256, maxChoices: 8 } as const;

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const tooLong = `must be at most ${API_LIMITS.maxContentChars} characters`;

export const chatRoleSchema = z.enum(['system', 'developer', 'user', 'assistant']);

export const chatMessageSchema = z.object({
  role: chatRoleSchema,
  content: z.union([
    z.string().max(API_LIMITS.maxContentChars, tooLong),
    z.array(textPart).refine((parts) => parts.reduce((n, p) => n + p.text.length, 0) <= API_LIMITS.maxContentChars, tooLong),
  ]),
  name: z.string().optional(),
});

const stopString = z.string().min(1).max(API_LIMITS.maxStopChars, `a stop sequence must be at most ${API_LIMITS.maxStopChars} characters`);
const stopSchema = z.union([stopString, z.array(stopString).max(4, 'at most 4 stop sequences are supported')]);

const isEmpty = (v: unknown) => (Array.isArray(v) ? v.length === 0 : typeof v === 'object' && v !== null && Object.keys(v).length === 0);
const UNSUPPORTED: ReadonlyArray<readonly ['tools' | 'tool_choice' | 'functions' | 'function_call' | 'response_format' | 'logit_bias' | 'presence_penalty' | 'frequency_penalty', (v: unknown) => boolean]> = [
  ['tools', isEmpty],
  ['tool_choice', (v) => v === 'none'],
  ['functions', isEmpty],
  ['function_call', (v) => v === 'none'],
  ['response_format', (v) => (v as { type?: unknown }).type === 'text'],
  ['logit_bias', isEmpty],
  ['presence_penalty', (v) => v === 0],
  ['frequency_penalty', (v) => v === 0],
];

export const chatCompletionRequestSchema = z
  .object({
    model: z.string().min(1),
    messages: z.array(chatMessageSchema).min(1, 'messages must contain at least one message').max(API_LIMITS.maxMessages),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
    max_tokens: z.number().int().min(1).nullish(),
    max_completion_tokens: z.number().int().min(1).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().gt(0).max(1).nullish(),
    /** Not in OpenAI's API; accepted as the common extension (vLLM, llama.cpp). 0 or absent = no top-k. */
    top_k: z.number().int().min(0).nullish(),
    /** Choices to generate; each is its own job (its own tab, escrow and seed, see sampling-plan.ts). */
    n: z.number().int().min(1).max(API_LIMITS.maxChoices).nullish(),
    stop: stopSchema.nullish(),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.number().int().min(0).max(API_LIMITS.maxTopLogprobs).nullish(),
    user: z.string().nullish(),
    // Known OpenAI parameters this network does not implement: rejected unless absent or neutral, never ignored.
    tools: z.unknown().optional(),
    tool_choice: z.unknown().optional(),
    functions: z.unknown().optional(),
    function_call: z.unknown().optional(),
    response_format: z.unknown().optional(),
    logit_bias: z.unknown().optional(),
    presence_penalty: z.unknown().optional(),
    frequency_penalty: z.unknown().optional(),
  })
  .superRefine((r, ctx) => {
    if (r.top_logprobs && r.logprobs !== true)
      ctx.addIssue({ code: 'custom', path: ['top_logprobs'], message: 'logprobs must be true when top_logprobs is set' });
    if (r.stream_options && r.stream !== true)
      ctx.addIssue({ code: 'custom', path: ['stream_options'], message: 'stream_options is only allowed when stream is true' });
    for (const [name, neutral] of UNSUPPORTED) {
      const value = r[name];
      if (value !== undefined && value !== null && !neutral(value))
        ctx.addIssue({ code: 'custom', path: [name], message: `${name} is not supported by this network`, params: { code: 'unsupported_parameter' } });
    }
  });

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type ChatMessage = z.infer<typeof chatMessageSchema>;

/** Plain role/content pairs, the only form the worker's chat template sees. */
export interface PlainMessage {
  role: ChatMessage['role'];
  content: string;
}

/** Flattens content parts, and maps OpenAI's `developer` role to `system`, which every chat template knows. */
export function toPlainMessages(messages: ChatMessage[]): PlainMessage[] {
  return messages.map((m) => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join(''),
  }));
}

export type FinishReason = 'stop' | 'length';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface TopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

export interface TokenLogprob extends TopLogprob {
  top_logprobs: TopLogprob[];
}

export interface ChoiceLogprobs {
  content: TokenLogprob[];
  refusal: null;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string; refusal: null };
    logprobs: ChoiceLogprobs | null;
    finish_reason: FinishReason;
  }>;
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{
    index: number;
    delta: { role?: 'assistant'; content?: string };
    logprobs: ChoiceLogprobs | null;
    finish_reason: FinishReason | null;
  }>;
  /** Present (as null) on every chunk when include_usage is set; filled on the final, choice-less chunk. */
  usage?: Usage | null;
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export type ErrorType =
  | 'invalid_request_error'
  | 'not_found_error'
  | 'service_unavailable_error'
  | 'server_error'
  | 'rate_limit_error'
  | 'insufficient_quota'
  | 'permission_error';

/** OpenAI's error envelope, used for every error the API returns, including mid-stream. */
export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}
