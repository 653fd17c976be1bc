/**
 * A contributor's actions on its own DPHN from the page: stake and unstake, signed by this browser's identity
 * (POST /api/contributors/:id/stake|unstake; see coordinator/api/contributor-routes.ts).
 */
import type { ContributorIdentity } from './identity.ts';
import type { ErrorBody } from '../protocol/api.ts';

export type ContributorAction = 'stake' | 'unstake';

/** Resolves when the coordinator took the action; rejects with its error message otherwise. */
export async function actOnStake(identity: ContributorIdentity, action: ContributorAction, micros: number, now = Date.now()): Promise<void> {
  const signature = await identity.signAccountAction(action, micros, now);
  const response = await fetch(`/api/contributors/${identity.contributorId}/${action}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ amount: micros, at: now, publicKey: identity.publicKey, signature }),
  });
  if (response.ok) return;
  const body = (await response.json().catch(() => null)) as ErrorBody | null;
  throw new Error(body?.error.message ?? `The coordinator answered HTTP ${response.status}`);
}
