/**
 * A child process for the crash-safety test (crash-safety.test.ts): runs a fixed stream of jobs through the real
 * billing path of the store file given, from the first, forever or up to `count`, until it is killed. Job i's
 * requester is created once with starter credits (guarded by a look-up; the creation is one transaction); the job
 * is escrowed, then settled — or refunded, every 5th. Every step is safe to repeat after a crash: an existing
 * requester is not created again, escrowing an existing job id with the same amount answers ok/replayed, and
 * settling or refunding an ended job answers ok/replayed. So running the stream again only adds what had not happened.
 *   node --import tsx settlement-stream.test-helper.ts <db path> [count]
 */
import type { Store } from '../ledger/economy-store.ts';
import { openSqliteStore } from './sqlite-store.ts';

/** What each job escrows (µDPHN). */
export const ESCROW_MICROS = 1_000;
/** Each requester's starter credits: far more than any run escrows. */
export const STARTER_MICROS = 1_000_000_000_000;
export const REQUESTERS = 7;
export const CONTRIBUTORS = 3;
/** When settled rewards mature (never, in this test). */
export const DUE_AT = 4_102_444_800_000;

/** Job i of the stream: who asks, who serves, and how it ends. */
export function jobOf(i: number) {
  const refunded = i % 5 === 4;
  const charge = 500 + ((i * 37) % 501); // ≤ ESCROW_MICROS: the rest of the escrow goes back
  return {
    jobId: `job-${i}`,
    requesterId: `r${i % REQUESTERS}`,
    contributorId: `c${i % CONTRIBUTORS}`,
    refunded,
    charge: refunded ? 0 : charge,
    reward: refunded ? 0 : Math.floor((charge * 9) / 10),
  };
}

export async function applySettlement(store: Store, i: number): Promise<void> {
  const job = jobOf(i);
  if (!(await store.requesters.get(job.requesterId)))
    await store.requesters.create({ id: job.requesterId, name: `requester ${job.requesterId}`, key: { id: `key-${job.requesterId}`, sha256: `sha256-${job.requesterId}`, prefix: 'dph_', name: null }, starterCredits: STARTER_MICROS });
  const held = await store.billing.escrow({ jobId: job.jobId, requesterId: job.requesterId, model: 'test-model', amount: ESCROW_MICROS });
  const ended = job.refunded
    ? await store.billing.refund(job.jobId, 'failed')
    : await store.billing.settle({ jobId: job.jobId, charge: job.charge, promptTokens: i % 100, completionTokens: 1 + (i % 50), contributorId: job.contributorId, reward: job.reward, dueAt: DUE_AT });
  if (!held.ok || !ended.ok) throw new Error(`job ${i} failed: ${JSON.stringify([held, ended])}`);
}

if (process.argv[1]?.endsWith('settlement-stream.test-helper.ts')) {
  const [path, count] = [process.argv[2] ?? '', Number(process.argv[3] ?? 1e9)];
  const store = openSqliteStore({ path });
  process.stdout.write('ready\n');
  for (let i = 0; i < count; i++) await applySettlement(store, i);
  store.close();
}
