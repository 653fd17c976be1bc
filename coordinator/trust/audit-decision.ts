/**
 * How an audit's verdicts decide it (issue #4), and the transcripts planted to test verifiers. Pure.
 *
 * Verdicts in the order they came: a pass from a proven verifier (one that has rejected a planted known-bad
 * transcript) clears a job, an unproven verifier's pass needs a second; a failure calls a second verifier; two
 * failures convict, when both verifiers are fair (have approved a planted known-good transcript: they do not reject
 * blindly); a split calls a third, whose verdict makes the majority. Three verdicts decide, but for failures whose
 * verifiers are not yet known to be fair.
 */
import type { TranscriptEnd, TranscriptTask, TranscriptToken } from '../../src/protocol/identity.ts';

export type AuditDecision = 'passed' | 'convicted' | 'undecided';
/** What a planted transcript tests: that a verifier rejects a known-bad one, or approves a known-good one. */
export type PlantKind = 'known-bad' | 'known-good';
/** Default chance, per completed job, of also planting a test transcript (known-bad or known-good) with a verifier. */
export const DEFAULT_PLANT_RATE = 0.05;
export const MAX_VERIFIERS = 3;

export interface CountedVerdict {
  ok: boolean;
  /** The verifier has rejected a planted known-bad transcript: it is not approving blindly. */
  proven: boolean;
  /** The verifier has approved a planted known-good transcript: it is not rejecting blindly. */
  fair: boolean;
}

export function auditDecision(verdicts: readonly CountedVerdict[]): AuditDecision {
  const passes = verdicts.filter((v) => v.ok);
  const failures = verdicts.length - passes.length;
  if (passes.length > failures && (passes.length >= 2 || passes.some((v) => v.proven))) return 'passed';
  // Any failure holds a pass back, but only failures of fair verifiers convict: two identities that reject whatever
  // they are given cannot convict an honest worker.
  if (failures >= 2 && failures > passes.length && verdicts.filter((v) => !v.ok && v.fair).length >= 2) return 'convicted';
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

/**
 * A known-good copy of a transcript whose audit passed, for a verifier who must approve it: the same tokens under a
 * fresh job id, so it looks like any other job of that model.
 */
export function knownGoodTranscript(source: TranscriptParts, jobId: string): TranscriptParts {
  return { task: { ...source.task, jobId }, tokens: source.tokens.map((t) => ({ ...t })), end: { ...source.end } };
}
