/**
 * Which tab judges an audit and which carries a planted transcript (issue #4). Pure: candidates and randomness
 * are passed in.
 */
import type { PlantKind } from './audit-decision.ts';

export interface VerifierCandidate {
  contributorId: string | null;
  models: readonly string[];
  runningJobs: number;
  peerId: string | null;
}

export interface VerifierWanted {
  model: string;
  /** Identities that may not judge it: the worker, and verifiers who already judged it or failed to. */
  excluded: ReadonlySet<string>;
  /** What a planted transcript tests; null for a real job's. */
  planted: PlantKind | null;
  /** A planted transcript meant for this identity (testing a verifier whose verdict awaits confirmation). */
  preferred: string | null;
}

/**
 * Among free, trusted candidates: the preferred identity when it can take it; for a planted transcript the least
 * tested verifiers (`tested`: how often each passed a test of that kind); idle tabs before busy ones; random among
 * equals.
 */
export function pickVerifier<T extends VerifierCandidate>(free: readonly T[], wanted: VerifierWanted, tested: (contributorId: string) => number, random: () => number): T | null {
  let candidates = free.filter((t) => t.contributorId !== null && !wanted.excluded.has(t.contributorId) && t.models.includes(wanted.model));
  const preferred = candidates.filter((t) => t.contributorId === wanted.preferred);
  if (preferred.length) candidates = preferred;
  else if (wanted.planted && candidates.length) {
    const least = Math.min(...candidates.map((t) => tested(t.contributorId as string)));
    candidates = candidates.filter((t) => tested(t.contributorId as string) === least);
  }
  const idle = candidates.filter((t) => t.runningJobs === 0);
  const pool = idle.length ? idle : candidates;
  return pool[Math.floor(random() * pool.length)] ?? null;
}

/** A tab to carry a planted transcript to `verifier` over the mesh: any other identity's tab with a mesh peer. */
export function pickCourier<T extends VerifierCandidate>(tabs: readonly T[], verifier: T, random: () => number): T | null {
  const couriers = tabs.filter((t) => t !== verifier && t.peerId !== null && t.contributorId !== verifier.contributorId);
  return couriers[Math.floor(random() * couriers.length)] ?? null;
}
