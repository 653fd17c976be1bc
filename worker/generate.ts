/**
 * The generation loop: prompt ids in, a stream of sampled tokens (with log-probabilities) and text deltas out.
 * Engine-agnostic: any `Engine` gives logits, `sampling.ts` picks tokens, the tokenizer turns ids into text.
 */
import type { Engine } from './engine/engine.ts';
import { logSoftmax, selectToken, topLogprobs, uniformAt } from './sampling.ts';
import { yieldToEventLoop } from './yield-to-event-loop.ts';
import { StopSequenceScanner } from './text/stop-sequences.ts';
import { IncrementalDecoder } from './text/incremental-decoder.ts';
import type { ChatTokenizer } from './text/chat-tokenizer.ts';
import type { GenerationResult, WorkerToken } from '../src/protocol/worker.ts';
import type { SamplingParams } from '../src/protocol/tab.ts';

export type GeneratedToken = WorkerToken;
export type { GenerationResult };

export interface GenerateOptions {
  engine: Engine;
  tokenizer: ChatTokenizer;
  promptIds: number[];
  /**
   * Tokens of this completion another tab already produced (failover): taken as given, and generation goes on at
   * step `prefixIds.length`, drawing u_t for the same steps, so the result is what one uninterrupted run gives. They
   * are not emitted again; the result's text and token count include them.
   */
  prefixIds?: readonly number[];
  params: SamplingParams;
  /** Token ids that end the completion; they are counted in usage but not emitted. */
  eosIds: readonly number[];
  onToken?: (token: GeneratedToken) => void;
  /** Aborting stops generation before the next step; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Test-hooks builds only (worker/cheats.ts): how a cheating tab departs from the honest loop. */
  tamper?: GenerationTamper;
}

/** Where a cheating tab departs from the honest loop; every hook left out behaves honestly. */
export interface GenerationTamper {
  /** The seed u_t is drawn from, given the task's. */
  seedFor?(seed: number): number;
  /** The token used at `step` (emitted and fed back) given the one sampling picked; an end-of-sequence id ends the completion. */
  pick?(step: number, sampled: number): number;
  /** The log-probability reported for the token at `step`, given the model's. */
  reportedLogprob?(step: number, logprob: number): number;
  /** Ends the completion after `tokens` emitted tokens (when that is under max_tokens) claiming `finishReason`. */
  stopAfter?(maxTokens: number): { tokens: number; finishReason: GenerationResult['finishReason'] } | null;
}

export class GenerationError extends Error {
  constructor(
    readonly code: 'context_length_exceeded',
    message: string,
  ) {
    super(message);
    this.name = 'GenerationError';
  }
}

export async function generate(options: GenerateOptions): Promise<GenerationResult> {
  const { engine, tokenizer, promptIds, params, eosIds, onToken, signal, tamper } = options;
  const prefix = options.prefixIds ?? [];
  const room = engine.maxPositions - promptIds.length;
  if (room < 1)
    throw new GenerationError('context_length_exceeded', `prompt of ${promptIds.length} tokens leaves no room in the model's ${engine.maxPositions}-token context`);
  const maxTokens = Math.min(params.maxTokens, room);
  const seed = tamper?.seedFor?.(params.seed) ?? params.seed;
  const cut = tamper?.stopAfter?.(maxTokens);
  // Without an earlier end the loop runs to max_tokens and finishes with 'length', unless the model or a stop sequence ends it.
  const last = cut && cut.tokens < maxTokens ? cut : { tokens: maxTokens, finishReason: 'length' as const };
  const rule = { temperature: params.temperature, topP: params.topP, topK: params.topK };
  const stops = new StopSequenceScanner(params.stop);
  const decoder = new IncrementalDecoder(tokenizer.decode);
  if (prefix.length > last.tokens) throw new GenerationError('context_length_exceeded', `a prefix of ${prefix.length} tokens is longer than the ${last.tokens} this completion may have`);
  // The prefix's text was streamed already: only what it held back (a partial character or stop sequence) is still due.
  for (const id of prefix) decoder.push(id);
  const primed = stops.scan(decoder.text);
  const sequence = engine.startSequence();
  let produced = prefix.length;
  let finishReason: GenerationResult['finishReason'] = primed.stopped ? 'stop' : last.finishReason;
  try {
    const done = primed.stopped || prefix.length >= last.tokens;
    let logits = done ? new Float32Array(0) : await sequence.extend([...promptIds, ...prefix]);
    for (let step = prefix.length; step < last.tokens && !done; step++) {
      await yieldToEventLoop();
      signal?.throwIfAborted();
      const sampled = selectToken(logits, rule, uniformAt(seed, step));
      const id = tamper?.pick ? tamper.pick(step, sampled) : sampled;
      produced++;
      if (eosIds.includes(id)) {
        finishReason = 'stop';
        break;
      }
      decoder.push(id);
      const logprobs = logSoftmax(logits);
      const logprob = logprobs[id] as number;
      const scan = stops.scan(decoder.text);
      onToken?.({
        index: step,
        id,
        ...tokenizer.piece(id),
        logprob: tamper?.reportedLogprob ? tamper.reportedLogprob(step, logprob) : logprob,
        top: topLogprobs(logprobs, params.topLogprobs).map((t) => ({ ...t, ...tokenizer.piece(t.id) })),
        delta: scan.delta,
      });
      if (scan.stopped) {
        finishReason = 'stop';
        break;
      }
      if (step + 1 < last.tokens) logits = await sequence.extend([id]);
    }
  } finally {
    sequence.dispose();
  }
  decoder.finish();
  const tailText = stops.finish(decoder.text);
  return { finishReason, tailText, text: stops.visible, promptTokens: promptIds.length, completionTokens: produced };
}
