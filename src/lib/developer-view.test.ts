import { describe, expect, it } from 'vitest';
import type { Amount, LedgerEntryView, UsageView } from '../protocol/accounts.ts';
import { defaultModel, historyRow, keepKey, keyProblem, priceRows, storedKey, usageRow, withOlder } from './developer-view.ts';

const KEY = 'dphn_AbCdEfGhIjKlMnOpQrStUvWxYz012345';
const amount = (micros: number, dphn: string): Amount => ({ micros, dphn });

/** A Storage over a Map, optionally refusing every call as a browser's disabled storage does. */
function memoryStorage(refuse = false) {
  const map = new Map<string, string>();
  const guard = () => {
    if (refuse) throw new DOMException('denied', 'SecurityError');
  };
  return {
    map,
    getItem: (k: string) => (guard(), map.get(k) ?? null),
    setItem: (k: string, v: string) => (guard(), void map.set(k, v)),
    removeItem: (k: string) => (guard(), void map.delete(k)),
  };
}

describe('the kept key', () => {
  it('is kept, read back and forgotten', () => {
    const storage = memoryStorage();
    expect(storedKey(storage)).toBeNull();
    expect(keepKey(storage, KEY)).toBe(true);
    expect(storedKey(storage)).toBe(KEY);
    expect(keepKey(storage, null)).toBe(true);
    expect(storedKey(storage)).toBeNull();
    expect(storage.map.size).toBe(0);
  });
  it('is ignored when what is stored is not a key', () => {
    const storage = memoryStorage();
    storage.map.set('dolphin.developer-key', 'dphn_demo');
    expect(storedKey(storage)).toBeNull();
  });
  it('survives storage that refuses or is missing', () => {
    expect(keepKey(memoryStorage(true), KEY)).toBe(false);
    expect(storedKey(memoryStorage(true))).toBeNull();
    expect(keepKey(null, KEY)).toBe(false);
    expect(storedKey(null)).toBeNull();
  });
});

describe('keyProblem', () => {
  it('accepts a key with surrounding space and refuses what cannot be one', () => {
    expect(keyProblem(`  ${KEY}\n`)).toBeNull();
    expect(keyProblem('  ')).toMatch(/Paste an API key/);
    for (const bad of ['dphn_demo', 'sk-abcdefghijklmnopqrstuvwxyz', `${KEY} extra`, `${KEY}'`]) expect(keyProblem(bad)).toMatch(/not a Dolphin API key/);
  });
});

describe('usageRow', () => {
  const job: UsageView = {
    job_id: 'job1',
    model: 'dolphin-tiny',
    status: 'settled',
    escrowed: amount(500, '0.0005 DPHN'),
    charged: amount(120, '0.00012 DPHN'),
    prompt_tokens: 12,
    completion_tokens: 16,
    contributor_id: 'c1',
    reason: null,
    created_at: '2026-12-01T10:00:00.000Z',
    ended_at: '2026-12-01T10:00:01.000Z',
  };
  const time = (iso: string) => `at ${iso}`;

  it('shows a settled job with its tokens and charge', () => {
    expect(usageRow(job, time)).toEqual({ jobId: 'job1', at: job.created_at, time: `at ${job.created_at}`, model: 'dolphin-tiny', tokens: '12 + 16', charged: '0.00012 DPHN', status: 'settled' });
  });
  it('shows what a running job holds, and that refunds cost nothing', () => {
    expect(usageRow({ ...job, status: 'escrowed', charged: null, prompt_tokens: null, completion_tokens: null }, time)).toMatchObject({ tokens: '—', charged: '0.0005 DPHN held' });
    expect(usageRow({ ...job, status: 'refunded', charged: null, completion_tokens: null }, time)).toMatchObject({ tokens: '12 + 0', charged: '0 DPHN (refunded)' });
    expect(usageRow({ ...job, status: 'convicted' }, time).charged).toBe('0.00012 DPHN, refunded after an audit');
  });
});

describe('historyRow', () => {
  const entry = (kind: string, micros: number, dphn: string, memo: string | null = null): LedgerEntryView => ({ transfer_id: 7, kind, amount: amount(micros, dphn), memo, created_at: '2026-12-01T10:00:00.000Z' });
  const time = (iso: string) => `at ${iso}`;

  it('says what each entry was, signed by which way it moved', () => {
    expect(historyRow(entry('faucet', 2_500_000, '2.5 DPHN'), time)).toEqual({ transferId: 7, at: '2026-12-01T10:00:00.000Z', time: 'at 2026-12-01T10:00:00.000Z', what: 'Starter credits', detail: '', amount: '+2.5 DPHN', direction: 'in' });
    expect(historyRow(entry('escrow', -500, '-0.0005 DPHN', 'job1 (dolphin-tiny)'), time)).toMatchObject({ what: 'Held for a request', detail: 'job1 (dolphin-tiny)', amount: '-0.0005 DPHN', direction: 'out' });
    expect(historyRow(entry('mature', 40, '0.00004 DPHN', 'job9'), time)).toMatchObject({ what: 'Earned by a tab lent under this account', amount: '+0.00004 DPHN' });
    expect(historyRow(entry('settle', 0, '0 DPHN'), time)).toMatchObject({ amount: '0 DPHN', direction: 'none' });
  });
  it('shows a kind it does not know by its name', () => {
    expect(historyRow(entry('bonus', 1, '0.000001 DPHN'), time).what).toBe('bonus');
  });
});

describe('withOlder', () => {
  it('appends the older page without a row already shown, and takes its cursor', () => {
    const shown = { data: [{ id: 5 }, { id: 4 }], next: 4 };
    expect(withOlder(shown, { data: [{ id: 4 }, { id: 3 }], next: 3 }, (r) => r.id)).toEqual({ data: [{ id: 5 }, { id: 4 }, { id: 3 }], next: 3 });
    expect(withOlder(shown, { data: [], next: null }, (r) => r.id)).toEqual({ data: shown.data, next: null });
  });
});

describe('prices and the default model', () => {
  it('lists prices per 1K tokens in the network order', () => {
    const prices = [
      { model: 'b', prompt_per_1k: amount(1, '0.000001 DPHN'), completion_per_1k: amount(2, '0.000002 DPHN'), minimum_stake: amount(0, '0 DPHN') },
      { model: 'a', prompt_per_1k: amount(3, '0.000003 DPHN'), completion_per_1k: amount(4, '0.000004 DPHN'), minimum_stake: amount(0, '0 DPHN') },
    ];
    expect(priceRows(prices)).toEqual([
      { model: 'b', prompt: '0.000001 DPHN', completion: '0.000002 DPHN' },
      { model: 'a', prompt: '0.000003 DPHN', completion: '0.000004 DPHN' },
    ]);
  });
  it('prefers the named model when served', () => {
    expect(defaultModel(['x', 'dolphin-tiny'], 'dolphin-tiny')).toBe('dolphin-tiny');
    expect(defaultModel(['x', 'y'], 'dolphin-tiny')).toBe('x');
    expect(defaultModel([], 'dolphin-tiny')).toBeNull();
  });
});
