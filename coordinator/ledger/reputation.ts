/**
 * A contributor's reputation from its audit history (issue #5). Pure; the clock is a parameter.
 *
 * Passed and failed (convicted) audits are counted with exponential decay, so old behaviour fades: after each
 * half-life both counts weigh half as much. The score is the mean of a Beta(1, 1) prior updated by the decayed counts,
 * a failure weighing FAILURE_WEIGHT passes: a new identity scores 0.5, passes pull the score toward 1, failures toward
 * 0, and with no new audits it drifts back toward 0.5. Counts are floats (they are weights, not money).
 */

/** Decayed counts of passed and failed (convicted) audits, as of `updatedAt` (ms since epoch). */
export interface ReputationState {
  passes: number;
  failures: number;
  updatedAt: number;
}

export const NEW_REPUTATION: ReputationState = Object.freeze({ passes: 0, failures: 0, updatedAt: 0 });

/** One failure weighs this many passes. */
export const FAILURE_WEIGHT = 10;

export const DEFAULT_REPUTATION_HALF_LIFE_MS = 7 * 24 * 3600 * 1000;

/**
 * Both counts multiplied by 2^(−(now − updatedAt) / halfLifeMs), as of now. A clock that reads earlier than
 * updatedAt counts as no time passed, and updatedAt stays where it was: counts never grow, and no interval is
 * decayed twice.
 */
export function decayed(state: ReputationState, now: number, halfLifeMs: number): ReputationState {
  if (!(halfLifeMs > 0)) throw new RangeError(`halfLifeMs must be above 0, not ${halfLifeMs}`);
  if (!Number.isFinite(now) || !Number.isFinite(state.updatedAt))
    throw new RangeError(`times must be finite: now ${now}, updatedAt ${state.updatedAt}`);
  if (!(state.passes >= 0 && state.failures >= 0 && Number.isFinite(state.passes) && Number.isFinite(state.failures)))
    throw new RangeError(`audit counts must be finite and ≥ 0: passes ${state.passes}, failures ${state.failures}`);
  if (now <= state.updatedAt) return { passes: state.passes, failures: state.failures, updatedAt: state.updatedAt };
  const factor = 2 ** (-(now - state.updatedAt) / halfLifeMs);
  return { passes: state.passes * factor, failures: state.failures * factor, updatedAt: now };
}

/** The state after one more audit of this contributor, decayed to now first. */
export function afterAudit(state: ReputationState, outcome: 'passed' | 'convicted', now: number, halfLifeMs: number): ReputationState {
  const current = decayed(state, now, halfLifeMs);
  return outcome === 'passed' ? { ...current, passes: current.passes + 1 } : { ...current, failures: current.failures + 1 };
}

/** In [0, 1]: (passes + 1) / (passes + FAILURE_WEIGHT · failures + 2) on the counts decayed to now. */
export function reputationScore(state: ReputationState, now: number, halfLifeMs: number): number {
  const { passes, failures } = decayed(state, now, halfLifeMs);
  return (passes + 1) / (passes + FAILURE_WEIGHT * failures + 2);
}
