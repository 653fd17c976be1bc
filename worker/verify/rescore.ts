/**
 * Re-scoring (issue #4): a verifier tab checks a claimed completion with ONE teacher-forced forward pass over
 * prompt + output, then judges every token with the acceptance rule (judge.ts). No sampling happens here; the
 * verifier only needs the same model.
 */
import type { PlainMessage } from '../../src/protocol/api.ts';
import type { SamplingParams } from '../../src/protocol/tab.ts';
import type { LoadedModel } from '../runtime.ts';
import { judgeTranscript, type Tolerances, type TranscriptVerdict } from './judge.ts';

export interface RescoreClaim {
  messages: PlainMessage[];
  params: SamplingParams;
  /** Every streamed token with the log-probability the worker claimed. */
  tokens: ReadonlyArray<{ id: number; logprob: number }>;
  finishReason: 'stop' | 'length';
  completionTokens: number;
}

export async function rescore(model: LoadedModel, claim: RescoreClaim, tolerances: Tolerances): Promise<TranscriptVerdict> {
  const { engine } = model;
  const refuse = (position: number): TranscriptVerdict => ({ ok: false, firstFailure: { position, reason: 'unknown_token' }, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 0 });
  const bad = claim.tokens.findIndex((t) => !Number.isInteger(t.id) || t.id < 0 || t.id >= engine.vocabSize);
  if (bad >= 0) return refuse(bad);
  const promptIds = model.tokenizer.encodeChat(claim.messages);
  if (promptIds.length + claim.tokens.length > engine.maxPositions) return refuse(engine.maxPositions - promptIds.length);
  const sequence = engine.startSequence();
  try {
    // Position t's logits (predicting output token t) come from the input just before it: the last prompt token
    // for t = 0, output token t - 1 after that; the last one predicts what followed the output (end of sequence).
    const logits = await sequence.extendAll([...promptIds, ...claim.tokens.map((t) => t.id)]);
    const { temperature, topP, topK, seed, maxTokens } = claim.params;
    return judgeTranscript(
      { rule: { temperature, topP, topK }, seed, maxTokens, tokens: claim.tokens, finishReason: claim.finishReason, completionTokens: claim.completionTokens },
      (t) => {
        const row = logits[promptIds.length - 1 + t];
        if (!row) throw new Error(`no logits for output position ${t}`);
        return row;
      },
      new Set(model.eosIds),
      tolerances,
    );
  } finally {
    sequence.dispose();
  }
}
