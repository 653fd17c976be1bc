/**
 * How an audit's verdicts decide it (issue #4), and the known-bad transcripts planted to test verifiers. Pure.
 *
 * Verdicts in the order they came: a pass from a proven verifier (one that has rejected a planted transcript)
 * clears a job, an unproven verifier's pass needs a second; a failure calls a second verifier; two failures
 * convict; a split calls a third, whose verdict makes the majority. Three verdicts always decide.
 */
import type { TranscriptEnd, TranscriptTask, TranscriptToken } from '../../src/protocol/identity.ts';

export type AuditDecision = 'passed' | 'convicted' | 'undecided';
/** Default chance, per completed job, of also planting a known-bad copy of its transcript with a verifier. */
export const DEFAULT_PLANT_RATE = 0.05;
export const MAX_VERIFIERS = 3;

export interface CountedVerdict {
  ok: boolean;
  /** The verifier has rejected a planted known-bad transcript: it is not approving blindly. */
  proven: boolean;
}

export function auditDecision(verdicts: readonly CountedVerdict[]): AuditDecision {
  const passes = verdicts.filter((v) => v.ok);
  const failures = verdicts.length - passes.length;
  if (passes.length > failures && (passes.length >= 2 || passes.some((v) => v.proven))) return 'passed';
  if (failures >= 2 && failures > passes.length) return 'convicted';
  return 'undecided';
}

export interface TranscriptParts {
  task: TranscriptTask;
  tokens: ReadonlyArray<TranscriptToken>;
  end: TranscriptEnd;
}

/**
 * A known-bad copy of a real transcript, for a verifier who must reject it: one token's claimed log-probability is
 * lowered by 0.5–1.5 nats (far beyond any tolerance, yet still a plausible logprob), under a fresh job id. Nothing
 * else changes, so it looks like any other job of that model. Null when the transcript has no token to alter.
 */
export function plantedTranscript(source: TranscriptParts, jobId: string, random: () => number): TranscriptParts | null {
  if (source.tokens.length === 0) return null;
  const position = Math.min(source.tokens.length - 1, Math.floor(random() * source.tokens.length));
  const tokens = source.tokens.map((t, i) => (i === position ? { ...t, logprob: t.logprob - (0.5 + random()) } : { ...t }));
  return { task: { ...source.task, jobId }, tokens, end: { ...source.end } };
}
