/**
 * The contributor's own limits on its tab (tab.ts `contributorLimitsSchema`), as the scheduler applies them. Pure.
 * A paused tab, or one whose contributor does not allow the model, does not serve it at all; a tab resting after a
 * job (its share of time) serves it but is not free yet.
 */
import type { ContributorLimits } from '../../src/protocol/tab.ts';

/** Whether the contributor lets its tab take jobs of `model` (paused: none). */
export function allowsModel(limits: ContributorLimits, model: string): boolean {
  return !limits.paused && (limits.models === null || limits.models.includes(model));
}

/**
 * How long a tab rests after computing for `jobMs` so that it computes `share` of the time: jobMs × (1/share − 1)
 * (share 1: no rest; 0.5: as long as the job took).
 */
export function restAfter(share: number, jobMs: number): number {
  return share >= 1 ? 0 : Math.max(0, jobMs) * (1 / share - 1);
}
