/**
 * The acceptance rule for re-scoring (issue #4): given the logits a verifier recomputed for every position of a
 * claimed completion (one teacher-forced pass), is each claimed token what seeded sampling (worker/sampling.ts)
 * would have picked, and is its claimed log-probability the model's? Pure: no engine, no I/O.
 *
 * Per position t, with u_t = uniformAt(seed, t):
 *  - sampled (temperature > 0): the claimed token's interval [low, high) in the filtered, canonically ordered
 *    distribution must contain u_t, widened by `epsilon` on both sides. A token the filters (top-k, top-p) cut
 *    sits at the end, as an empty interval at 1.
 *  - greedy (temperature 0): the claimed token's logit must be within `delta` of the largest logit.
 *  - always: the claimed log-probability must be within `tau` of the recomputed one (raw log-softmax).
 * Honest engines differ by float rounding (WASM vs WebGPU), which is what the tolerances absorb.
 */
import { argmax, filteredDistribution, logSoftmax, uniformAt, type SamplingRule } from '../sampling.ts';

/**
 * ε widens the probability interval that must contain u_t; δ is the largest logit gap below the maximum a greedy
 * token may have; τ the largest difference between the claimed and the recomputed log-probability. Defined once,
 * with the wire that carries them (src/protocol/tab.ts).
 */
export type { Tolerances } from '../../src/protocol/tab.ts';
import type { Tolerances } from '../../src/protocol/tab.ts';

export type RejectReason = 'outside_interval' | 'not_greedy' | 'logprob_mismatch' | 'unknown_token';

export interface TokenJudgement {
  ok: boolean;
  reason: RejectReason | null;
  /** How far u_t lies outside the claimed token's interval (0 inside); sampled positions only. */
  intervalDistance: number;
  /** How far the claimed token's logit is below the maximum; greedy positions only. */
  logitGap: number;
  /** |claimed logprob - recomputed logprob|. */
  logprobDeviation: number;
}

export function judgeToken(logits: ArrayLike<number>, rule: SamplingRule, u: number, claimed: { id: number; logprob: number }, tolerances: Tolerances): TokenJudgement {
  const judgement: TokenJudgement = { ok: true, reason: null, intervalDistance: 0, logitGap: 0, logprobDeviation: 0 };
  // Deviations are what was measured: an unknown id or a non-finite logprob is rejected by its reason alone.
  if (!Number.isInteger(claimed.id) || claimed.id < 0 || claimed.id >= logits.length) return { ...judgement, ok: false, reason: 'unknown_token' };
  const recomputed = logSoftmax(logits)[claimed.id] as number;
  if (!Number.isFinite(claimed.logprob)) return { ...judgement, ok: false, reason: 'logprob_mismatch' };
  judgement.logprobDeviation = Math.abs(claimed.logprob - recomputed);
  if (rule.temperature === 0) {
    judgement.logitGap = (logits[argmax(logits)] as number) - (logits[claimed.id] as number);
    if (judgement.logitGap > tolerances.delta) return { ...judgement, ok: false, reason: 'not_greedy' };
  } else {
    const { low, high } = intervalOf(logits, rule, claimed.id);
    judgement.intervalDistance = u < low ? low - u : u >= high ? u - high : 0;
    if (judgement.intervalDistance > tolerances.epsilon) return { ...judgement, ok: false, reason: 'outside_interval' };
  }
  if (judgement.logprobDeviation > tolerances.tau) return { ...judgement, ok: false, reason: 'logprob_mismatch' };
  return judgement;
}

/** The claimed token's [low, high) in the filtered distribution's CDF; [1, 1) when the filters cut it. */
function intervalOf(logits: ArrayLike<number>, rule: SamplingRule, id: number): { low: number; high: number } {
  const { ids, probs } = filteredDistribution(logits, rule);
  let low = 0;
  for (let i = 0; i < ids.length; i++) {
    const p = probs[i] as number;
    if (ids[i] === id) return { low, high: i === ids.length - 1 ? 1 : low + p };
    low += p;
  }
  return { low: 1, high: 1 };
}

export interface TranscriptClaim {
  rule: SamplingRule;
  seed: number;
  maxTokens: number;
  /** Every streamed token, in order, with the alternatives reported for it (`top`, when asked for). */
  tokens: ReadonlyArray<{ id: number; logprob: number; top?: ReadonlyArray<{ id: number; logprob: number }> }>;
  finishReason: 'stop' | 'length';
  /** Streamed tokens plus, when the model ended the completion, its end-of-sequence token. */
  completionTokens: number;
  /**
   * Tokens before this position are given, not claimed (a continued job's prefix, which another tab streamed): they
   * condition the rest but are not judged. Default 0.
   */
  judgeFrom?: number;
}

export interface TranscriptVerdict {
  ok: boolean;
  /** The first position that failed (the end-of-sequence position for a false stop claim), or null. */
  firstFailure: { position: number; reason: RejectReason | 'top_mismatch' | 'false_stop' | 'false_length' | 'length_mismatch' | 'prompt_mismatch' } | null;
  maxIntervalDistance: number;
  maxLogitGap: number;
  maxLogprobDeviation: number;
}

/**
 * Judges a whole claimed completion. `logitsAt(t)` are the recomputed logits for position t (t = tokens.length is
 * the position after the last streamed token, needed to check a claimed end of sequence). Stop by a stop
 * sequence (completionTokens equal to the streamed count) is checked on the text by the caller; here only the
 * counts must add up.
 */
export function judgeTranscript(claim: TranscriptClaim, logitsAt: (position: number) => ArrayLike<number>, eosIds: ReadonlySet<number>, tolerances: Tolerances): TranscriptVerdict {
  const verdict: TranscriptVerdict = { ok: true, firstFailure: null, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 0 };
  const fail = (position: number, reason: NonNullable<TranscriptVerdict['firstFailure']>['reason']) => {
    verdict.ok = false;
    verdict.firstFailure ??= { position, reason };
  };
  const streamed = claim.tokens.length;
  const note = (j: TokenJudgement) => {
    verdict.maxIntervalDistance = Math.max(verdict.maxIntervalDistance, j.intervalDistance);
    verdict.maxLogitGap = Math.max(verdict.maxLogitGap, j.logitGap);
    verdict.maxLogprobDeviation = Math.max(verdict.maxLogprobDeviation, j.logprobDeviation);
  };
  claim.tokens.forEach((token, t) => {
    if (t < (claim.judgeFrom ?? 0)) return;
    const j = judgeToken(logitsAt(t), claim.rule, uniformAt(claim.seed, t), token, tolerances);
    note(j);
    if (!j.ok) fail(t, j.reason ?? 'outside_interval');
    if (token.top?.length) {
      const alternatives = judgeAlternatives(logitsAt(t), token.top, tolerances.tau);
      verdict.maxLogprobDeviation = Math.max(verdict.maxLogprobDeviation, alternatives.deviation);
      if (!alternatives.ok) fail(t, 'top_mismatch');
    }
    if (eosIds.has(token.id)) fail(t, 'false_stop'); // an end-of-sequence token is never streamed
  });
  const endedByModel = claim.completionTokens === streamed + 1;
  if (claim.completionTokens !== streamed && !endedByModel) fail(streamed, 'length_mismatch');
  if (claim.finishReason === 'length' && (endedByModel || streamed !== claim.maxTokens)) fail(streamed, 'false_length');
  if (claim.finishReason === 'stop' && endedByModel) {
    // The model must really have drawn an end-of-sequence token where the completion stopped.
    const logits = logitsAt(streamed);
    const u = uniformAt(claim.seed, streamed);
    const judged = [...eosIds].map((id) => judgeToken(logits, claim.rule, u, { id, logprob: logSoftmax(logits)[id] as number }, tolerances));
    if (!judged.some((j) => j.ok)) fail(streamed, 'false_stop');
  }
  return verdict;
}

/**
 * The alternatives reported with a token must be the model's most likely tokens at that position: no id twice, each
 * one's claimed logprob within `tau` of the recomputed one, and none less likely (by more than `tau`) than the
 * k-th most likely token, k being how many were reported. Order among near-equals is not judged.
 */
export function judgeAlternatives(logits: ArrayLike<number>, top: ReadonlyArray<{ id: number; logprob: number }>, tau: number): { ok: boolean; deviation: number } {
  const logprobs = logSoftmax(logits);
  let deviation = 0;
  const seen = new Set<number>();
  for (const a of top) {
    if (!Number.isInteger(a.id) || a.id < 0 || a.id >= logprobs.length || seen.has(a.id) || !Number.isFinite(a.logprob)) return { ok: false, deviation };
    seen.add(a.id);
    deviation = Math.max(deviation, Math.abs(a.logprob - (logprobs[a.id] as number)));
  }
  const kth = kthLargest(logprobs, top.length);
  const ok = deviation <= tau && top.every((a) => (logprobs[a.id] as number) >= kth - tau);
  return { ok, deviation };
}

/** The k-th largest value (k >= 1), keeping only the k largest seen: O(n·k) worst case, about O(n) on logits. */
function kthLargest(values: ArrayLike<number>, k: number): number {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (best.length === k && v <= (best[k - 1] as number)) continue;
    let at = best.length;
    while (at > 0 && (best[at - 1] as number) < v) at--;
    best.splice(at, 0, v);
    if (best.length > k) best.pop();
  }
  return best[k - 1] ?? -Infinity;
}
