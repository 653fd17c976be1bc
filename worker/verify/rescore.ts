/**
 * Re-scoring (issue #4): a verifier tab checks a claimed completion with ONE teacher-forced forward pass over
 * prompt + output, then judges every token with the acceptance rule (judge.ts). No sampling happens here; the
 * verifier only needs the same model.
 */
import type { PlainMessage } from '../../src/protocol/api.ts';
import type { SamplingParams } from '../../src/protocol/tab.ts';
import type { LoadedModel } from '../runtime.ts';
import { judgeTranscript, type Tolerances, type TranscriptVerdict } from './judge.ts';
import { IncrementalDecoder } from '../text/incremental-decoder.ts';
import { StopSequenceScanner } from '../text/stop-sequences.ts';
import type { ChatTokenizer } from '../text/chat-tokenizer.ts';

/**
 * Where the generation loop (generate.ts) would have ended the completion on one of `stops`: the index of the token
 * that completed a stop sequence, or -1 if none does.
 */
export function stopSequenceEnd(tokenizer: ChatTokenizer, ids: readonly number[], stops: readonly string[]): number {
  if (!stops.length) return -1;
  const decoder = new IncrementalDecoder(tokenizer.decode);
  const scanner = new StopSequenceScanner(stops);
  for (const [i, id] of ids.entries()) {
    decoder.push(id);
    if (scanner.scan(decoder.text).stopped) return i;
  }
  return -1;
}

export interface RescoreClaim {
  messages: PlainMessage[];
  params: SamplingParams;
  /** Every streamed token with the log-probability the worker claimed. */
  tokens: ReadonlyArray<{ id: number; logprob: number; top?: ReadonlyArray<{ id: number; logprob: number }> }>;
  finishReason: 'stop' | 'length';
  completionTokens: number;
  /** The prompt's token count the worker reported (and is billed by); checked against this tokenization. */
  promptTokens?: number;
  /**
   * A continued job's tokens that another tab streamed (failover): given, not judged. `tokens` follow them, and
   * positions in the verdict count from the start of the completion.
   */
  prefix?: readonly number[];
}

export async function rescore(model: LoadedModel, claim: RescoreClaim, tolerances: Tolerances): Promise<TranscriptVerdict> {
  const { engine } = model;
  const refuse = (position: number): TranscriptVerdict => ({ ok: false, firstFailure: { position, reason: 'unknown_token' }, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 0 });
  const prefix = claim.prefix ?? [];
  // The completion as the worker continued it: the given prefix, then what it claims.
  const tokens = [...prefix.map((id) => ({ id, logprob: 0 })), ...claim.tokens];
  const bad = tokens.findIndex((t) => !Number.isInteger(t.id) || t.id < 0 || t.id >= engine.vocabSize);
  if (bad >= 0) return refuse(bad);
  const promptIds = model.tokenizer.encodeChat(claim.messages);
  if (claim.promptTokens !== undefined && claim.promptTokens !== promptIds.length) return { ...refuse(0), firstFailure: { position: 0, reason: 'prompt_mismatch' } };
  if (promptIds.length + tokens.length > engine.maxPositions) return refuse(engine.maxPositions - promptIds.length);
  const sequence = engine.startSequence();
  try {
    // Position t's logits (predicting output token t) come from the input just before it: the last prompt token
    // for t = 0, output token t - 1 after that; the last one predicts what followed the output (end of sequence).
    const ids = tokens.map((t) => t.id);
    const logits = await sequence.extendAll([...promptIds, ...ids]);
    const { temperature, topP, topK, seed } = claim.params;
    // The generation loop stops at the context's end too (generate.ts).
    const maxTokens = Math.min(claim.params.maxTokens, engine.maxPositions - promptIds.length);
    const verdict = judgeTranscript(
      { rule: { temperature, topP, topK }, seed, maxTokens, tokens, finishReason: claim.finishReason, completionTokens: claim.completionTokens, judgeFrom: prefix.length },
      (t) => {
        const row = logits[promptIds.length - 1 + t];
        if (!row) throw new Error(`no logits for output position ${t}`);
        return row;
      },
      new Set(model.eosIds),
      tolerances,
    );
    // A stop sequence must end the completion exactly at its last token (the loop stops there), and only when the
    // completion claims so: a "stop" with no end-of-sequence token counted is a stop-sequence claim.
    const stopAt = stopSequenceEnd(model.tokenizer, ids, claim.params.stop);
    const claimsStopSequence = claim.finishReason === 'stop' && claim.completionTokens === ids.length;
    if (stopAt >= 0 && stopAt < ids.length - 1) return withFailure(verdict, stopAt + 1, 'length_mismatch');
    if (claimsStopSequence && stopAt !== ids.length - 1) return withFailure(verdict, ids.length, 'false_stop');
    if (!claimsStopSequence && stopAt >= 0) return withFailure(verdict, ids.length, 'length_mismatch');
    return verdict;
  } finally {
    sequence.dispose();
  }
}

function withFailure(verdict: TranscriptVerdict, position: number, reason: NonNullable<TranscriptVerdict['firstFailure']>['reason']): TranscriptVerdict {
  return { ...verdict, ok: false, firstFailure: verdict.firstFailure ?? { position, reason } };
}
