/**
 * Property tests of the SQLite ledger over thousands of random operation sequences: the sum of all balances is
 * zero, no account but mint goes negative, replaying an idempotency key changes nothing, and every balance equals
 * both a model kept beside it and a recomputation from the postings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRandom, type Random } from '../../test/unit/random.ts';
import { contributorAccount, escrowAccount, MINT, requesterAccount, TREASURY, type AccountId, type Posting } from '../ledger/accounts.ts';
import type { LedgerStore, TransferRequest } from '../ledger/ledger-store.ts';
import { openSqliteStore } from './sqlite-store.ts';

/** The store's ledger, closed with its database. */
function openSqliteLedger(options: { path: string; now?: () => Date }) {
  const store = openSqliteStore(options);
  return { ...store.ledger, close: store.close };
}

const ACCOUNTS: AccountId[] = [
  requesterAccount('r1'),
  requesterAccount('r2'),
  contributorAccount('c1', 'pending'),
  contributorAccount('c1', 'available'),
  contributorAccount('c1', 'staked'),
  escrowAccount('job-1'),
  escrowAccount('job-2'),
  TREASURY,
];

/** One random operation: mostly well-formed movements (some overdrawing), plus replays, reused keys and bad input. */
function randomRequest(r: Random, step: number, done: TransferRequest[]): { request: TransferRequest; kind: 'new' | 'replay' | 'reuse' | 'invalid' } {
  const roll = r.next();
  if (roll < 0.15 && done.length) return { request: r.pick(done), kind: 'replay' };
  if (roll < 0.2 && done.length) {
    const old = r.pick(done);
    return { request: { ...old, postings: old.postings.map((p, i) => (i === 0 ? { ...p, amount: p.amount + 1 } : i === 1 ? { ...p, amount: p.amount - 1 } : p)) }, kind: 'reuse' };
  }
  if (roll < 0.25) return { request: { idempotencyKey: `bad-${step}`, kind: 'broken', postings: [{ account: TREASURY, amount: 5 }, { account: MINT, amount: -4 }] }, kind: 'invalid' };
  const amount = 1 + r.int(5_000_000);
  if (roll < 0.45) return { request: { idempotencyKey: `k-${step}`, kind: 'faucet', postings: [{ account: MINT, amount: -amount }, { account: r.pick(ACCOUNTS.slice(0, 2)), amount }] }, kind: 'new' };
  // A split movement: one account pays two others.
  const [from, to, other] = [r.pick(ACCOUNTS), r.pick(ACCOUNTS), r.pick(ACCOUNTS)];
  const part = r.int(amount);
  const postings: Posting[] = [{ account: from, amount: -amount }, { account: to, amount: amount - part }, ...(part > 0 ? [{ account: other, amount: part }] : [])];
  return { request: { idempotencyKey: `k-${step}`, kind: 'move', postings: postings.filter((p) => p.amount !== 0) }, kind: 'new' };
}

async function checkInvariants(ledger: LedgerStore, model: Map<string, number>) {
  const audit = await ledger.audit();
  expect(audit.sum).toBe(0);
  expect(audit.mismatches).toEqual([]);
  expect(audit.negative).toEqual([]);
  for (const account of [MINT, ...ACCOUNTS]) expect(await ledger.balance(account), account).toBe(model.get(account) ?? 0);
}

describe('SQLite ledger', async () => {
  it('keeps its invariants over 2,000 random sequences of 25 operations', async () => {
    let applied = 0;
    let refused = 0;
    for (let sequence = 0; sequence < 2000; sequence++) {
      const r = seededRandom(sequence + 1);
      const ledger = openSqliteLedger({ path: ':memory:' });
      const model = new Map<string, number>();
      const done: TransferRequest[] = [];
      for (let step = 0; step < 25; step++) {
        const { request, kind } = randomRequest(r, step, done);
        const result = await ledger.transfer(request);
        if (kind === 'replay') expect(result).toMatchObject({ ok: true, replayed: true });
        else if (kind === 'reuse') expect(result).toMatchObject({ ok: false, reason: 'key_reused' });
        else if (kind === 'invalid') expect(result).toMatchObject({ ok: false, reason: 'invalid' });
        else if (result.ok) {
          expect(result.replayed).toBe(false);
          applied++;
          done.push(request);
          for (const p of request.postings) model.set(p.account, (model.get(p.account) ?? 0) + p.amount);
        } else {
          expect(result.reason).toBe('insufficient_funds');
          refused++;
          // An overdraft was refused because some account (not mint) would have gone below zero.
          const net = new Map<string, number>();
          for (const p of request.postings) net.set(p.account, (net.get(p.account) ?? 0) + p.amount);
          expect([...net].some(([account, change]) => account !== MINT && (model.get(account) ?? 0) + change < 0)).toBe(true);
        }
      }
      await checkInvariants(ledger, model);
      ledger.close();
    }
    expect(applied).toBeGreaterThan(10_000);
    expect(refused).toBeGreaterThan(1_000);
  });

  it('keeps history append-only and pages through it newest first', async () => {
    const ledger = openSqliteLedger({ path: ':memory:', now: () => new Date('2026-11-28T00:00:00Z') });
    const r1 = requesterAccount('r1');
    for (let i = 1; i <= 5; i++) await ledger.transfer({ idempotencyKey: `f${i}`, kind: 'faucet', postings: [{ account: MINT, amount: -i }, { account: r1, amount: i }] });
    const first = await ledger.history(r1, { limit: 2 });
    expect(first.map((h) => h.amount)).toEqual([5, 4]);
    const next = await ledger.history(r1, { limit: 10, before: first.at(-1)?.transferId });
    expect(next.map((h) => h.amount)).toEqual([3, 2, 1]);
    expect(next[0]).toMatchObject({ kind: 'faucet', memo: null, createdAt: '2026-11-28T00:00:00.000Z' });
  });

  it('creates the database file on first open, migrates once, and keeps balances across reopening', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dolphin-ledger-'));
    try {
      const path = join(dir, 'ledger.db');
      const first = openSqliteLedger({ path });
      expect(await first.transfer({ idempotencyKey: 'f1', kind: 'faucet', postings: [{ account: MINT, amount: -7 }, { account: requesterAccount('r1'), amount: 7 }] })).toMatchObject({ ok: true });
      first.close();
      const again = openSqliteLedger({ path });
      expect(await again.balance(requesterAccount('r1'))).toBe(7);
      expect(await again.transfer({ idempotencyKey: 'f1', kind: 'faucet', postings: [{ account: MINT, amount: -7 }, { account: requesterAccount('r1'), amount: 7 }] })).toMatchObject({ ok: true, replayed: true });
      expect(await again.audit()).toEqual({ sum: 0, mismatches: [], negative: [] });
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
