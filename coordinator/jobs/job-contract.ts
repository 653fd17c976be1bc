/**
 * What a tab may send for a job: the contract the board holds every tab to (tabs are untrusted). Pure.
 */
import type { SamplingParams, TabToCoordinator } from '../../src/protocol/tab.ts';
import type { StreamCheck } from './stream-check.ts';

export type Strip<T> = T extends { jobId: string } ? Omit<T, 'jobId'> : never;
/** A tab's messages about a job. */
export type FromTab = Extract<TabToCoordinator, { type: 'tokens' | 'done' | 'failed' }>;

/** What the coordinator knows of a job while checking what its tab sends. */
export interface JobUnderContract {
  params: SamplingParams;
  /** The prompt's token count and the context length as the coordinator counted them (unknown: unchecked). */
  counts: { promptTokens?: number | undefined; contextLength?: number | undefined };
  /** The index the next streamed token must have. */
  nextIndex: number;
  /** Checks the streamed text against the token ids (stream-check.ts); null when the model's tokenizer is unknown. */
  check: StreamCheck | null;
}

/** What is wrong with `event` for this job, or null. */
export function contractViolation(job: JobUnderContract, event: Strip<FromTab>): string | null {
  if (event.type === 'tokens') {
    for (const [offset, token] of event.tokens.entries()) {
      const expected = job.nextIndex + offset;
      if (token.index !== expected) return `token ${token.index} arrived where ${expected} was expected`;
      if (token.index >= job.params.maxTokens) return `token ${token.index} is beyond max_tokens ${job.params.maxTokens}`;
      // Exactly as many as asked: the vocabulary always has more tokens than the 20 one may ask for.
      if (token.top.length !== job.params.topLogprobs) return `${token.top.length} alternatives sent, ${job.params.topLogprobs} asked for`;
    }
    return job.check?.tokens(event.tokens) ?? null;
  }
  if (event.type === 'done') {
    // Every streamed token counts, plus at most one end-of-sequence token that is not streamed.
    const { completionTokens } = event;
    if (completionTokens < job.nextIndex || completionTokens > Math.min(job.nextIndex + 1, job.params.maxTokens))
      return `done reports ${completionTokens} completion tokens after ${job.nextIndex} were streamed`;
    if (event.promptTokens < 1) return 'done reports an empty prompt';
    const { promptTokens, contextLength } = job.counts;
    if (promptTokens !== undefined && event.promptTokens !== promptTokens) return `done reports ${event.promptTokens} prompt tokens; the prompt has ${promptTokens}`;
    if (contextLength !== undefined && event.promptTokens + completionTokens > contextLength) return `done reports ${event.promptTokens} + ${completionTokens} tokens, more than the ${contextLength}-token context holds`;
    return job.check?.done(event) ?? null;
  }
  return null;
}
