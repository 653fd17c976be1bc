/**
 * Ledger throughput for `npm run bench` (issue #5): settled jobs per second through the coordinator's SQLite store
 * (WAL, a file in a temporary folder), each job billed the way a request is: escrow its maximum cost when it
 * arrives, then settle it (charge the tokens served, the contributor's reward pending, the treasury's part, the rest
 * returned) — each step its transfer plus the job's records, in one transaction. Every tenth job fails instead and
 * is refunded. Target: ≥ 2,000 settled jobs/s on this machine.
 *   BENCH_LEDGER_JOBS (20000)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../coordinator/store/sqlite-store.ts';

const JOBS = Number(process.env.BENCH_LEDGER_JOBS ?? 20_000);

export async function benchLedger() {
  const dir = mkdtempSync(join(tmpdir(), 'dolphin-bench-ledger-'));
  const store = openSqliteStore({ path: join(dir, 'dolphin.db') });
  try {
    const requesters = Array.from({ length: 100 }, (_, i) => `r${i}`);
    for (const id of requesters) await store.requesters.create({ id, name: id, key: { id: `key-${id}`, sha256: `hash-${id}`, prefix: 'dphn_', name: null }, starterCredits: 1e12 });
    const started = performance.now();
    for (let job = 0; job < JOBS; job++) {
      const jobId = `job-${job}`;
      const escrowed = await store.billing.escrow({ jobId, requesterId: requesters[job % requesters.length] ?? 'r0', model: 'bench', amount: 50_000 });
      const charge = 1_000 + (job % 4_000) * 10;
      const ended =
        job % 10 === 9
          ? await store.billing.refund(jobId, 'the contributor tab disconnected')
          : await store.billing.settle({ jobId, charge, promptTokens: 20, completionTokens: job % 500, contributorId: `c${job % 50}`, reward: Math.floor(charge * 0.8), dueAt: Date.now() + 86_400_000 });
      if (!escrowed.ok || !ended.ok) throw new Error(`job ${job} did not settle: ${JSON.stringify([escrowed, ended])}`);
    }
    const seconds = (performance.now() - started) / 1000;
    const audit = await store.ledger.audit();
    return { jobs: JOBS, seconds, jobsPerSecond: JOBS / seconds, transfersPerJob: 2, invariantsHold: audit.sum === 0 && audit.mismatches.length === 0 && audit.negative.length === 0 };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printLedger(r: Awaited<ReturnType<typeof benchLedger>>) {
  console.log(`\nledger (SQLite, WAL): ${r.jobs} jobs escrowed and settled or refunded in ${r.seconds.toFixed(2)} s = ${Math.round(r.jobsPerSecond)} jobs/s (target ≥ 2,000: ${r.jobsPerSecond >= 2000 ? 'met' : 'NOT met'}); invariants ${r.invariantsHold ? 'hold' : 'BROKEN'}`);
}
