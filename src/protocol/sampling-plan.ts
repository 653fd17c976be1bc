/**
 * From an API request to the sampling parameters a tab runs with. Pure. Defaults follow OpenAI (temperature 1,
 * top_p 1); without a user seed the coordinator draws one, so every job is reproducible from its record.
 */
import type { ChatCompletionRequest } from './api.ts';
import type { SamplingParams } from './tab.ts';

/** The request fields that decide sampling (the chat page's own worker plans from the same few). */
export type SamplingRequest = Partial<Pick<ChatCompletionRequest, 'max_completion_tokens' | 'max_tokens' | 'temperature' | 'top_p' | 'top_k' | 'stop' | 'seed' | 'logprobs' | 'top_logprobs'>>;

export function planSampling(request: SamplingRequest, contextLength: number, randomSeed: () => number): SamplingParams {
  const stop = request.stop ?? [];
  return {
    // The tab further clamps this to the room the prompt leaves in the context.
    maxTokens: request.max_completion_tokens ?? request.max_tokens ?? contextLength,
    temperature: request.temperature ?? 1,
    topP: request.top_p ?? 1,
    topK: request.top_k ?? 0,
    stop: typeof stop === 'string' ? [stop] : stop,
    seed: request.seed ?? randomSeed(),
    topLogprobs: request.logprobs ? (request.top_logprobs ?? 0) : 0,
  };
}

/**
 * The seed of choice `index` of an `n > 1` request: the request's seed for choice 0 (so `n: 1` is unchanged), the
 * following integers for the others (wrapping within the seed range), so each choice is reproducible on its own.
 */
export function choiceSeed(seed: number, index: number): number {
  const max = Number.MAX_SAFE_INTEGER;
  // Exact integer arithmetic: seed + index could pass MAX_SAFE_INTEGER, where doubles lose units.
  return seed <= max - index ? seed + index : index - (max - seed) - 1;
}
