/**
 * A child process for the crash-safety test (crash-safety.test.ts): applies a fixed stream of settlements to the
 * ledger file given, from the first, forever or up to `count`, until it is killed. Each settlement is a faucet grant
 * to a requester, then the requester paying a contributor (90%) and the treasury (10%); both idempotent, so running
 * the stream again after a crash only adds what had not happened.
 *   tsx settlement-stream.test-helper.ts <db path> <count>
 */
import { contributorAccount, MINT, requesterAccount, TREASURY } from './accounts.ts';
import { openSqliteLedger } from './sqlite-ledger.ts';
import type { LedgerStore } from './ledger-store.ts';

export const SETTLEMENT_MICROS = 1_000;

export function applySettlement(ledger: LedgerStore, i: number): void {
  const requester = requesterAccount(`r${i % 7}`);
  const granted = ledger.transfer({ idempotencyKey: `faucet-${i}`, kind: 'faucet', postings: [{ account: MINT, amount: -SETTLEMENT_MICROS }, { account: requester, amount: SETTLEMENT_MICROS }] });
  const settled = ledger.transfer({
    idempotencyKey: `settle-${i}`,
    kind: 'charge',
    postings: [
      { account: requester, amount: -SETTLEMENT_MICROS },
      { account: contributorAccount(`c${i % 3}`, 'pending'), amount: (SETTLEMENT_MICROS * 9) / 10 },
      { account: TREASURY, amount: SETTLEMENT_MICROS / 10 },
    ],
  });
  if (!granted.ok || !settled.ok) throw new Error(`settlement ${i} failed: ${JSON.stringify([granted, settled])}`);
}

if (process.argv[1]?.endsWith('settlement-stream.test-helper.ts')) {
  const [path, count] = [process.argv[2] ?? '', Number(process.argv[3] ?? 1e9)];
  const ledger = openSqliteLedger({ path });
  process.stdout.write('ready\n');
  for (let i = 0; i < count; i++) applySettlement(ledger, i);
  ledger.close();
}
