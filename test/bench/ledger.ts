/**
 * Ledger throughput for `npm run bench` (issue #5): settled jobs per second through the SQLite ledger (WAL, a file in
 * a temporary folder), each job settled the way a request will be: escrow its maximum cost, then one transfer that
 * charges the tokens served (to the contributor's pending rewards and the treasury) and releases the rest.
 * Target: ≥ 2,000 settled jobs/s on this machine.
 *   BENCH_LEDGER_JOBS (20000)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contributorAccount, escrowAccount, MINT, requesterAccount, TREASURY } from '../../coordinator/ledger/accounts.ts';
import { openSqliteLedger } from '../../coordinator/ledger/sqlite-ledger.ts';

const JOBS = Number(process.env.BENCH_LEDGER_JOBS ?? 20_000);

export function benchLedger() {
  const dir = mkdtempSync(join(tmpdir(), 'dolphin-bench-ledger-'));
  try {
    const ledger = openSqliteLedger({ path: join(dir, 'ledger.db') });
    const requesters = Array.from({ length: 100 }, (_, i) => requesterAccount(`r${i}`));
    for (const [i, r] of requesters.entries()) ledger.transfer({ idempotencyKey: `grant-${i}`, kind: 'faucet', postings: [{ account: MINT, amount: -1e12 }, { account: r, amount: 1e12 }] });
    const started = performance.now();
    for (let job = 0; job < JOBS; job++) {
      const requester = requesters[job % requesters.length] ?? requesters[0]!;
      const escrow = escrowAccount(`job-${job}`);
      const max = 50_000;
      const charged = 1_000 + (job % 4_000) * 10; // a multiple of 10: the treasury takes exactly a tenth
      const escrowed = ledger.transfer({ idempotencyKey: `escrow-${job}`, kind: 'escrow', postings: [{ account: requester, amount: -max }, { account: escrow, amount: max }] });
      const settled = ledger.transfer({
        idempotencyKey: `settle-${job}`,
        kind: 'settle',
        postings: [
          { account: escrow, amount: -max },
          { account: contributorAccount(`c${job % 50}`, 'pending'), amount: charged - charged / 10 },
          { account: TREASURY, amount: charged / 10 },
          { account: requester, amount: max - charged },
        ],
      });
      if (!escrowed.ok || !settled.ok) throw new Error(`job ${job} did not settle: ${JSON.stringify([escrowed, settled])}`);
    }
    const seconds = (performance.now() - started) / 1000;
    const audit = ledger.audit();
    ledger.close();
    return { jobs: JOBS, seconds, jobsPerSecond: JOBS / seconds, transfersPerJob: 2, invariantsHold: audit.sum === 0 && audit.mismatches.length === 0 && audit.negative.length === 0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printLedger(r: ReturnType<typeof benchLedger>) {
  console.log(`\nledger (SQLite, WAL): ${r.jobs} jobs escrowed and settled in ${r.seconds.toFixed(2)} s = ${Math.round(r.jobsPerSecond)} settled jobs/s (target ≥ 2,000: ${r.jobsPerSecond >= 2000 ? 'met' : 'NOT met'}); invariants ${r.invariantsHold ? 'hold' : 'BROKEN'}`);
}
