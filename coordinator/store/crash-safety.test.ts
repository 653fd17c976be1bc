/**
 * Crash safety of the real billing path: a child process running a stream of jobs through the store file
 * (requester created once with starter credits, each job escrowed, then settled or refunded) is killed with SIGKILL
 * at random moments, many times. After every kill the ledger audits clean and the jobs are a prefix of the stream,
 * all ended but perhaps the last (still escrowed, its escrow held). At the end, running the stream once more past
 * where the children got gives exactly the balances and bills of one clean run — no job lost, charged twice or left
 * holding money.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { contributorAccount, escrowAccount, MINT, requesterAccount, TREASURY } from '../ledger/accounts.ts';
import type { Store } from '../ledger/economy-store.ts';
import { openSqliteStore } from './sqlite-store.ts';
import { applySettlement, CONTRIBUTORS, ESCROW_MICROS, jobOf, REQUESTERS, STARTER_MICROS } from './settlement-stream.test-helper.ts';

const HELPER = fileURLToPath(new URL('./settlement-stream.test-helper.ts', import.meta.url));
const KILLS = 12;
const CLEAN_AUDIT = { sum: 0, mismatches: [], negative: [] };

/** Starts the stream in a child and kills it `delayMs` after it opened the store. */
function runAndKill(path: string, delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // No end: the child is always killed mid-stream.
    const child = spawn(process.execPath, ['--import', 'tsx', HELPER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), delayMs));
    child.on('exit', (code, signal) => (signal === 'SIGKILL' || code === 0 ? resolve() : reject(new Error(`the stream exited with ${code}: ${stderr}`))));
  });
}

/** How many jobs of the stream the store has: they are made in order, so the first missing one ends them. */
async function jobsIn(store: Store): Promise<number> {
  let n = 0;
  while (await store.billing.job(jobOf(n).jobId)) n++;
  return n;
}

/** Every balance the stream touches. */
async function balances(store: Store): Promise<Record<string, number>> {
  const accounts = [MINT, TREASURY, ...Array.from({ length: REQUESTERS }, (_, r) => requesterAccount(`r${r}`)), ...Array.from({ length: CONTRIBUTORS }, (_, c) => contributorAccount(`c${c}`, 'pending'))];
  return Object.fromEntries(await Promise.all(accounts.map(async (account) => [account, await store.ledger.balance(account)] as const)));
}

it(`keeps the store whole across ${KILLS} SIGKILLs mid-stream, and escrows, settles or refunds each job exactly once`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dolphin-crash-'));
  try {
    const path = join(dir, 'coordinator.db');
    const progress: number[] = [];
    let leftEscrowed = 0; // kills that landed between a job's escrow and its end
    for (let kill = 0; kill < KILLS; kill++) {
      await runAndKill(path, 20 + ((kill * 37) % 200));
      const store = openSqliteStore({ path });
      try {
        expect(await store.ledger.audit()).toEqual(CLEAN_AUDIT);
        const jobs = await jobsIn(store);
        // Every job but perhaps the last has ended, its escrow returned; the last may still hold its escrow.
        for (let i = 0; i < jobs; i++) {
          const bill = await store.billing.job(jobOf(i).jobId);
          const held = await store.ledger.balance(escrowAccount(jobOf(i).jobId));
          if (i === jobs - 1 && bill?.status === 'escrowed') {
            expect(held).toBe(ESCROW_MICROS);
            leftEscrowed++;
          } else {
            expect(bill?.status, `job ${i} after kill ${kill}`).toBe(jobOf(i).refunded ? 'refunded' : 'settled');
            expect(held, `escrow of job ${i} after kill ${kill}`).toBe(0);
          }
        }
        progress.push(jobs);
      } finally {
        store.close();
      }
    }
    console.log(`jobs in the store after each kill: ${progress.join(', ')}; kills that left the last job escrowed: ${leftEscrowed}`);
    expect(Math.max(...progress)).toBeGreaterThan(0); // the children got somewhere before they were killed
    for (let k = 1; k < KILLS; k++) expect(progress[k]).toBeGreaterThanOrEqual(progress[k - 1] ?? 0); // nothing committed is lost

    // Run the stream once more, past where the children got: what was done is replayed, the rest added.
    const COUNT = Math.max(...progress) + 100;
    const store = openSqliteStore({ path });
    const clean = openSqliteStore({ path: join(dir, 'clean.db') });
    try {
      for (let i = 0; i < COUNT; i++) await applySettlement(store, i);
      for (let i = 0; i < COUNT; i++) await applySettlement(clean, i);
      expect(await store.ledger.audit()).toEqual(CLEAN_AUDIT);
      expect(await balances(store)).toEqual(await balances(clean));

      // And those balances are what the stream says.
      const expected: Record<string, number> = { [MINT]: -REQUESTERS * STARTER_MICROS, [TREASURY]: 0 };
      for (let r = 0; r < REQUESTERS; r++) expected[requesterAccount(`r${r}`)] = STARTER_MICROS;
      for (let c = 0; c < CONTRIBUTORS; c++) expected[contributorAccount(`c${c}`, 'pending')] = 0;
      for (let i = 0; i < COUNT; i++) {
        const job = jobOf(i);
        expected[requesterAccount(job.requesterId)] = (expected[requesterAccount(job.requesterId)] ?? 0) - job.charge;
        expected[contributorAccount(job.contributorId, 'pending')] = (expected[contributorAccount(job.contributorId, 'pending')] ?? 0) + job.reward;
        expected[TREASURY] = (expected[TREASURY] ?? 0) + job.charge - job.reward;
      }
      expect(await balances(store)).toEqual(expected);
      for (let c = 0; c < CONTRIBUTORS; c++) expect((await store.contributors.standing(`c${c}`)).pending).toBe(expected[contributorAccount(`c${c}`, 'pending')]);

      // Every job ended as the stream says, once, and no escrow holds money.
      for (let i = 0; i < COUNT; i++) {
        const job = jobOf(i);
        const bill = await store.billing.job(job.jobId);
        expect(bill, `job ${i}`).toMatchObject(
          job.refunded
            ? { requesterId: job.requesterId, escrowed: ESCROW_MICROS, status: 'refunded', charged: null, reward: null }
            : { requesterId: job.requesterId, escrowed: ESCROW_MICROS, status: 'settled', charged: job.charge, reward: job.reward, contributorId: job.contributorId },
        );
        expect(await store.ledger.balance(escrowAccount(job.jobId)), `escrow of job ${i}`).toBe(0);
      }
      expect(await store.billing.job(jobOf(COUNT).jobId)).toBeNull();
      for (let r = 0; r < REQUESTERS; r++) expect(await store.requesters.keys(`r${r}`)).toHaveLength(1);
    } finally {
      store.close();
      clean.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
