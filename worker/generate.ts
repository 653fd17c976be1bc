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
  params: SamplingParams;
  /** Token ids that end the completion; they are counted in usage but not emitted. */
  eosIds: readonly number[];
  onToken?: (token: GeneratedToken) => void;
  /** Aborting stops generation before the next step; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
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
  const { engine, tokenizer, promptIds, params, eosIds, onToken, signal } = options;
  const room = engine.maxPositions - promptIds.length;
  if (room < 1)
    throw new GenerationError('context_length_exceeded', `prompt of ${promptIds.length} tokens leaves no room in the model's ${engine.maxPositions}-token context`);
  const maxTokens = Math.min(params.maxTokens, room);
  const rule = { temperature: params.temperature, topP: params.topP, topK: params.topK };
  const stops = new StopSequenceScanner(params.stop);
  const decoder = new IncrementalDecoder(tokenizer.decode);
  const sequence = engine.startSequence();
  let produced = 0;
  let finishReason: GenerationResult['finishReason'] = 'length';
  try {
    let logits = await sequence.extend(promptIds);
    for (let step = 0; step < maxTokens; step++) {
      await yieldToEventLoop();
      signal?.throwIfAborted();
      const id = selectToken(logits, rule, uniformAt(params.seed, step));
      produced++;
      if (eosIds.includes(id)) {
        finishReason = 'stop';
        break;
      }
      decoder.push(id);
      const logprobs = logSoftmax(logits);
      const scan = stops.scan(decoder.text);
      onToken?.({
        index: step,
        id,
        ...tokenizer.piece(id),
        logprob: logprobs[id] as number,
        top: topLogprobs(logprobs, params.topLogprobs).map((t) => ({ ...t, ...tokenizer.piece(t.id) })),
        delta: scan.delta,
      });
      if (scan.stopped) {
        finishReason = 'stop';
        break;
      }
      if (step + 1 < maxTokens) logits = await sequence.extend([id]);
    }
  } finally {
    sequence.dispose();
  }
  decoder.finish();
  const tailText = stops.finish(decoder.text);
  return { finishReason, tailText, text: stops.visible, promptTokens: promptIds.length, completionTokens: produced };
}
