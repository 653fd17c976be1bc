/**
 * How an audit's verdicts decide it (issue #4), and the known-bad transcripts planted to test verifiers. Pure.
 *
 * Verdicts in the order they came: one pass clears a job; a failure calls a second verifier; two failures convict;
 * a split calls a third, whose verdict makes the majority. At most three verifiers judge one job.
 */
import type { TranscriptEnd, TranscriptTask } from '../../src/protocol/identity.ts';

export type AuditDecision = 'passed' | 'convicted' | 'undecided';
/** Default chance, per completed job, of also planting a known-bad copy of its transcript with a verifier. */
export const DEFAULT_PLANT_RATE = 0.05;
export const MAX_VERIFIERS = 3;

export function auditDecision(verdicts: readonly boolean[]): AuditDecision {
  const passes = verdicts.filter(Boolean).length;
  const failures = verdicts.length - passes;
  if (passes >= 1 && passes > failures) return 'passed';
  if (failures >= 2 && failures > passes) return 'convicted';
  return 'undecided';
}

export interface TranscriptParts {
  task: TranscriptTask;
  tokens: ReadonlyArray<{ id: number; logprob: number }>;
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
  const tokens = source.tokens.map((t, i) => (i === position ? { id: t.id, logprob: t.logprob - (0.5 + random()) } : { ...t }));
  return { task: { ...source.task, jobId }, tokens, end: { ...source.end } };
}
