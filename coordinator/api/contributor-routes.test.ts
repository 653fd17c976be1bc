import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Amount, ContributorView, LedgerEntryView, Page, StandingView } from '../../src/protocol/accounts.ts';
import { testEconomy } from '../../test/unit/economy.ts';
import { TestIdentity } from '../../test/unit/tab-peer.ts';
import { expectError, testApp, writeTestModels, type TestModels } from '../../test/unit/test-app.ts';
import { DEFAULT_ECONOMY } from '../economy.ts';
import { contributorAccount } from '../ledger/accounts.ts';
import { formatDphn, maxJobReward, minimumStake, priceOf } from '../ledger/pricing.ts';
import { AuditBook } from '../trust/audit-book.ts';
import { ACTION_WINDOW_MS } from './contributor-routes.ts';

const MODEL = 'tiny-a';
const OTHER_MODEL = 'tiny-b';
const CONTEXT = { [MODEL]: 96, [OTHER_MODEL]: 4096 } as const;
const T0 = Date.parse('2026-12-01T10:00:00Z');
const UNBONDING_MS = 3 * 24 * 3600_000;
const DPHN = 1_000_000;

let fixture: TestModels;

beforeAll(async () => {
  fixture = await writeTestModels('dolphin-contributors-', { [MODEL]: { contextLength: CONTEXT[MODEL] }, [OTHER_MODEL]: { contextLength: CONTEXT[OTHER_MODEL] } });
});
afterAll(async () => {
  await fixture.remove();
});

/** A fresh coordinator over its own economy and audit book, with a clock the test moves. */
async function network(book = new AuditBook()) {
  const clock = { now: T0 };
  const economy = await testEconomy({ catalogue: fixture.catalogue, book, settings: { unbondingMs: UNBONDING_MS }, now: () => clock.now });
  const { app } = testApp({ models: fixture, economy: economy.wiring.deps, book });
  const get = (path: string) => app.request(path);
  const post = (path: string, body: unknown) => app.request(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  /** Gives the identity `amount` µDPHN it may stake (a faucet grant to its available balance). */
  const fund = async (id: string, amount: number) => {
    expect(await economy.store.contributors.grantOnce({ claimant: `test:${id}`, account: contributorAccount(id, 'available'), amount, kind: 'faucet' })).toBe(true);
  };
  const standing = async (id: string) => {
    const response = await get(`/api/contributors/${id}`);
    expect(response.status).toBe(200);
    return ((await response.json()) as ContributorView).dphn;
  };
  return { app, get, post, fund, standing, economy, clock, book };
}

const amount = (micros: number): Amount => ({ micros, dphn: formatDphn(micros) });
/** The minimum stake the route should show for a model, at audit probability p with nothing pending. */
const minimumFor = (model: keyof typeof CONTEXT, p: number) =>
  amount(minimumStake({ gain: maxJobReward(priceOf(DEFAULT_ECONOMY.prices, model), CONTEXT[model], DEFAULT_ECONOMY.contributorSharePpm), auditProbability: p, pending: 0 }));
const balances = (s: StandingView) => ({ available: s.available.micros, pending: s.pending.micros, staked: s.staked.micros, unbonding: s.unbonding.micros });
const INVALID_SIGNATURE = (param: string) => ({ type: 'invalid_request_error', param, code: 'invalid_signature' }) as const;

describe("a contributor's record", () => {
  const WORKER = 'a'.repeat(40);
  const VERIFIER = 'b'.repeat(40);
  const PASS = { ok: true, firstFailure: null, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 2e-6 };
  const auditedBook = () => {
    const book = new AuditBook({ probation: 10, pMin: 0.05 }, () => new Date('2026-11-28T12:00:00Z'));
    book.opened({ jobId: 'job-1', model: 'dolphin-tiny', contributorId: WORKER, transcriptSha256: 'c'.repeat(64) });
    book.verdict('job-1', { auditId: 'audit-1', verifier: VERIFIER, publicKey: 'key', backend: 'webgpu', verdict: PASS, signature: 'sig', at: '2026-11-28T12:00:01Z' });
    book.decided('job-1', 'passed');
    book.opened({ jobId: 'job-2', model: 'dolphin-tiny', contributorId: WORKER, transcriptSha256: 'd'.repeat(64) });
    return book;
  };

  it("shows a contributor's record as worker and as verifier, with its DPHN", async () => {
    const net = await network(auditedBook());
    const worker = (await (await net.get(`/api/contributors/${WORKER}`)).json()) as ContributorView;
    expect(worker.contributorId).toBe(WORKER);
    expect(worker.reputation).toBeGreaterThan(0.5);
    expect(worker.worker).toMatchObject({ audited: 2, passed: 1, convicted: 0, pending: 1, consecutivePasses: 1, auditProbability: 1 });
    expect(worker.dphn).toEqual({
      available: amount(0),
      pending: amount(0),
      staked: amount(0),
      unbonding: amount(0),
      unbonding_entries: [],
      minimum_stake: { [MODEL]: minimumFor(MODEL, 1), [OTHER_MODEL]: minimumFor(OTHER_MODEL, 1) },
    });
    const verifier = (await (await net.get(`/api/contributors/${VERIFIER}`)).json()) as ContributorView;
    expect(verifier.verifier).toEqual({ verdicts: 1, dissents: 0, confirmedPasses: 1, plantedRejected: 0, plantedApproved: 0, goodApproved: 0, goodRejected: 0, trusted: true });
  });

  it('answers a contributor that never served, verified or held DPHN with 404 contributor_not_found', async () => {
    const net = await network(auditedBook());
    await expectError(await net.get('/api/contributors/nobody'), 404, { type: 'invalid_request_error', param: 'contributorId', code: 'contributor_not_found' });
  });

  it('shows a newcomer that only holds DPHN with a fresh record', async () => {
    const net = await network();
    const id = new TestIdentity().contributorId;
    await net.fund(id, 3 * DPHN);
    const view = (await (await net.get(`/api/contributors/${id}`)).json()) as ContributorView;
    expect(view).toMatchObject({ contributorId: id, reputation: 0.5, worker: { audited: 0, passed: 0, convicted: 0, pending: 0, consecutivePasses: 0, auditProbability: 1 }, verifier: { verdicts: 0, trusted: true } });
    expect(balances(view.dphn)).toEqual({ available: 3 * DPHN, pending: 0, staked: 0, unbonding: 0 });
    expect(view.dphn.available).toEqual({ micros: 3 * DPHN, dphn: '3 DPHN' });
  });
});

describe('POST /api/contributors/:id/stake and /unstake', () => {
  it('stakes available DPHN, and a replayed request moves nothing again', async () => {
    const net = await network();
    const me = new TestIdentity();
    await net.fund(me.contributorId, 2 * DPHN);
    const body = me.accountAction('stake', 750_000, T0);

    const response = await net.post(`/api/contributors/${me.contributorId}/stake`, body);
    expect(response.status).toBe(200);
    const result = (await response.json()) as { contributor_id: string; action: string; amount: Amount; replayed: boolean; dphn: StandingView };
    expect(result).toMatchObject({ contributor_id: me.contributorId, action: 'stake', amount: { micros: 750_000, dphn: '0.75 DPHN' }, replayed: false });
    expect(balances(result.dphn)).toEqual({ available: 1_250_000, pending: 0, staked: 750_000, unbonding: 0 });
    expect(balances(await net.standing(me.contributorId))).toEqual({ available: 1_250_000, pending: 0, staked: 750_000, unbonding: 0 });

    net.clock.now += 60_000;
    const replay = await net.post(`/api/contributors/${me.contributorId}/stake`, body);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ replayed: true, dphn: { staked: { micros: 750_000 }, available: { micros: 1_250_000 } } });
    expect(balances(await net.standing(me.contributorId))).toEqual({ available: 1_250_000, pending: 0, staked: 750_000, unbonding: 0 });

    // The same amount signed at another instant is another request.
    const again = await net.post(`/api/contributors/${me.contributorId}/stake`, me.accountAction('stake', 750_000, net.clock.now));
    expect(await again.json()).toMatchObject({ replayed: false, dphn: { staked: { micros: 1_500_000 }, available: { micros: 500_000 } } });
  });

  it('refuses to stake more than is available with 402 insufficient_balance, moving nothing', async () => {
    const net = await network();
    const me = new TestIdentity();
    await net.fund(me.contributorId, DPHN);
    const body = await expectError(await net.post(`/api/contributors/${me.contributorId}/stake`, me.accountAction('stake', DPHN + 1, T0)), 402, { type: 'insufficient_quota', param: null, code: 'insufficient_balance' });
    expect(body.error.message).toContain('1.000001 DPHN');
    await expectError(await net.post(`/api/contributors/${me.contributorId}/unstake`, me.accountAction('unstake', 1, T0)), 402, { type: 'insufficient_quota', param: null, code: 'insufficient_balance' });
    expect(balances(await net.standing(me.contributorId))).toEqual({ available: DPHN, pending: 0, staked: 0, unbonding: 0 });
    // All of it is fine.
    expect((await net.post(`/api/contributors/${me.contributorId}/stake`, me.accountAction('stake', DPHN, T0))).status).toBe(200);
  });

  it('refuses a request not signed by the identity, or not for this action, amount or contributor, with 401 invalid_signature', async () => {
    const net = await network();
    const me = new TestIdentity();
    const other = new TestIdentity();
    await net.fund(me.contributorId, DPHN);
    await net.fund(other.contributorId, DPHN);
    const path = `/api/contributors/${me.contributorId}/stake`;
    const signed = me.accountAction('stake', 100, T0);

    // Another identity's key and signature: the key is not this contributor's.
    await expectError(await net.post(path, other.accountAction('stake', 100, T0)), 401, INVALID_SIGNATURE('publicKey'));
    // This contributor's key with another identity's signature.
    await expectError(await net.post(path, { ...signed, signature: other.accountAction('stake', 100, T0).signature }), 401, INVALID_SIGNATURE('signature'));
    // A body for another amount, or signed at another time, than the signature covers.
    await expectError(await net.post(path, { ...signed, amount: 200 }), 401, INVALID_SIGNATURE('signature'));
    await expectError(await net.post(path, { ...signed, at: T0 + 1 }), 401, INVALID_SIGNATURE('signature'));
    // A stake signature used to unstake, and a signature by me posted for the other contributor.
    await expectError(await net.post(`/api/contributors/${me.contributorId}/unstake`, signed), 401, INVALID_SIGNATURE('signature'));
    await expectError(await net.post(`/api/contributors/${other.contributorId}/stake`, signed), 401, INVALID_SIGNATURE('publicKey'));
    // Not a key at all.
    await expectError(await net.post(path, { ...signed, publicKey: 'not-a-key' }), 401, INVALID_SIGNATURE('publicKey'));
    await expectError(await net.post(path, { ...signed, signature: 'AAAA' }), 401, INVALID_SIGNATURE('signature'));

    expect(balances(await net.standing(me.contributorId))).toEqual({ available: DPHN, pending: 0, staked: 0, unbonding: 0 });
    expect(balances(await net.standing(other.contributorId))).toEqual({ available: DPHN, pending: 0, staked: 0, unbonding: 0 });
  });

  it('refuses a request signed more than 5 minutes away from now with 400 stale_signature', async () => {
    const net = await network();
    const me = new TestIdentity();
    await net.fund(me.contributorId, DPHN);
    const path = `/api/contributors/${me.contributorId}/stake`;
    expect(ACTION_WINDOW_MS).toBe(5 * 60_000);
    await expectError(await net.post(path, me.accountAction('stake', 1, T0 - ACTION_WINDOW_MS - 1)), 400, { type: 'invalid_request_error', param: 'at', code: 'stale_signature' });
    await expectError(await net.post(path, me.accountAction('stake', 1, T0 + ACTION_WINDOW_MS + 1)), 400, { type: 'invalid_request_error', param: 'at', code: 'stale_signature' });
    expect((await net.post(path, me.accountAction('stake', 1, T0 - ACTION_WINDOW_MS))).status).toBe(200);
    expect((await net.post(path, me.accountAction('stake', 2, T0 + ACTION_WINDOW_MS))).status).toBe(200);

    // A request replayed once its 5 minutes have passed is refused, even one that was applied.
    const body = me.accountAction('stake', 3, T0);
    expect((await net.post(path, body)).status).toBe(200);
    net.clock.now = T0 + ACTION_WINDOW_MS + 1;
    await expectError(await net.post(path, body), 400, { type: 'invalid_request_error', param: 'at', code: 'stale_signature' });
    expect((await net.standing(me.contributorId)).staked.micros).toBe(6);
  });

  it('answers a malformed body with 400 naming the field', async () => {
    const net = await network();
    const me = new TestIdentity();
    const path = `/api/contributors/${me.contributorId}/stake`;
    const signed = me.accountAction('stake', 100, T0);
    await expectError(await net.post(path, '{'), 400, { type: 'invalid_request_error', param: null, code: 'invalid_json' });
    await expectError(await net.post(path, { ...signed, amount: 0 }), 400, { type: 'invalid_request_error', param: 'amount', code: 'invalid_value' });
    await expectError(await net.post(path, { ...signed, amount: 1.5 }), 400, { type: 'invalid_request_error', param: 'amount', code: 'invalid_value' });
    await expectError(await net.post(path, { ...signed, amount: -5 }), 400, { type: 'invalid_request_error', param: 'amount', code: 'invalid_value' });
    await expectError(await net.post(path, { ...signed, extra: 1 }), 400, { type: 'invalid_request_error', param: 'extra', code: 'unknown_parameter' });
    const { signature: _signature, ...unsigned } = signed;
    await expectError(await net.post(path, unsigned), 400, { type: 'invalid_request_error', param: 'signature', code: 'missing_required_parameter' });
  });

  it('unstakes into unbonding until release_at, when the sweep makes it available', async () => {
    const net = await network();
    const me = new TestIdentity();
    const id = me.contributorId;
    await net.fund(id, 2 * DPHN);
    expect((await net.post(`/api/contributors/${id}/stake`, me.accountAction('stake', 1_500_000, T0))).status).toBe(200);

    net.clock.now = T0 + 1000;
    const unstaked = await net.post(`/api/contributors/${id}/unstake`, me.accountAction('unstake', 400_000, net.clock.now));
    expect(unstaked.status).toBe(200);
    const releaseAt = new Date(T0 + 1000 + UNBONDING_MS).toISOString();
    expect(await unstaked.json()).toMatchObject({ action: 'unstake', amount: { micros: 400_000 }, replayed: false, dphn: { unbonding_entries: [{ amount: { micros: 400_000, dphn: '0.4 DPHN' }, release_at: releaseAt }] } });
    expect(balances(await net.standing(id))).toEqual({ available: 500_000, pending: 0, staked: 1_100_000, unbonding: 400_000 });

    // A replayed unstake adds no second withdrawal.
    expect(await (await net.post(`/api/contributors/${id}/unstake`, me.accountAction('unstake', 400_000, T0 + 1000))).json()).toMatchObject({ replayed: true });
    expect((await net.standing(id)).unbonding_entries).toEqual([{ amount: amount(400_000), release_at: releaseAt }]);

    // A second withdrawal a day later releases a day later.
    net.clock.now = T0 + 24 * 3600_000;
    expect((await net.post(`/api/contributors/${id}/unstake`, me.accountAction('unstake', 100_000, net.clock.now))).status).toBe(200);
    expect((await net.standing(id)).unbonding_entries).toEqual([
      { amount: amount(400_000), release_at: releaseAt },
      { amount: amount(100_000), release_at: new Date(T0 + 24 * 3600_000 + UNBONDING_MS).toISOString() },
    ]);

    // Not yet.
    net.clock.now = T0 + 1000 + UNBONDING_MS - 1;
    await net.economy.wiring.deps.contributors.sweep();
    expect(balances(await net.standing(id))).toEqual({ available: 500_000, pending: 0, staked: 1_000_000, unbonding: 500_000 });

    // The first is due; the second is not.
    net.clock.now = T0 + 1000 + UNBONDING_MS;
    await net.economy.wiring.deps.contributors.sweep();
    const after = await net.standing(id);
    expect(balances(after)).toEqual({ available: 900_000, pending: 0, staked: 1_000_000, unbonding: 100_000 });
    expect(after.unbonding_entries).toHaveLength(1);

    // Sweeping again releases nothing twice.
    await net.economy.wiring.deps.contributors.sweep();
    expect(balances(await net.standing(id))).toEqual({ available: 900_000, pending: 0, staked: 1_000_000, unbonding: 100_000 });
  });

  it('refuses to unstake more than is staked (unbonding stake is not staked)', async () => {
    const net = await network();
    const me = new TestIdentity();
    await net.fund(me.contributorId, DPHN);
    const path = (action: string) => `/api/contributors/${me.contributorId}/${action}`;
    expect((await net.post(path('stake'), me.accountAction('stake', 600_000, T0))).status).toBe(200);
    expect((await net.post(path('unstake'), me.accountAction('unstake', 600_000, T0))).status).toBe(200);
    await expectError(await net.post(path('unstake'), me.accountAction('unstake', 1, T0 + 1)), 402, { type: 'insufficient_quota', param: null, code: 'insufficient_balance' });
    expect(balances(await net.standing(me.contributorId))).toEqual({ available: 400_000, pending: 0, staked: 0, unbonding: 600_000 });
  });
});

describe('GET /api/contributors/:id', () => {
  it('shows the minimum stake per model rising as the audit rate falls', async () => {
    const book = new AuditBook({ probation: 1, pMin: 0.05 }, () => new Date(T0));
    const net = await network(book);
    const me = new TestIdentity();
    await net.fund(me.contributorId, DPHN);
    expect((await net.standing(me.contributorId)).minimum_stake).toEqual({ [MODEL]: minimumFor(MODEL, 1), [OTHER_MODEL]: minimumFor(OTHER_MODEL, 1) });

    // Past probation (four passes in a row), a quarter of its jobs are audited and it needs more stake.
    for (const job of ['job-1', 'job-2', 'job-3', 'job-4']) {
      book.opened({ jobId: job, model: MODEL, contributorId: me.contributorId, transcriptSha256: 'c'.repeat(64) });
      book.decided(job, 'passed');
    }
    const p = book.contributor(me.contributorId)?.worker.auditProbability ?? 1;
    expect(p).toBe(0.25);
    const view = (await (await net.get(`/api/contributors/${me.contributorId}`)).json()) as ContributorView;
    expect(view.worker.auditProbability).toBe(p);
    expect(view.dphn.minimum_stake).toEqual({ [MODEL]: minimumFor(MODEL, p), [OTHER_MODEL]: minimumFor(OTHER_MODEL, p) });
    expect(view.dphn.minimum_stake[MODEL]?.micros).toBeGreaterThan(minimumFor(MODEL, 1).micros);
  });
});

describe('GET /api/contributors/:id/history', () => {
  it('lists the entries of one bucket, newest first, paged', async () => {
    const net = await network();
    const me = new TestIdentity();
    const id = me.contributorId;
    await net.fund(id, DPHN);
    for (const [n, at] of [[100, T0], [200, T0 + 1], [300, T0 + 2]] as const) expect((await net.post(`/api/contributors/${id}/stake`, me.accountAction('stake', n, at))).status).toBe(200);
    expect((await net.post(`/api/contributors/${id}/unstake`, me.accountAction('unstake', 50, T0 + 3))).status).toBe(200);
    const history = async (query: string) => {
      const response = await net.get(`/api/contributors/${id}/history${query}`);
      expect(response.status).toBe(200);
      return (await response.json()) as Page<LedgerEntryView>;
    };

    const staked = await history('?bucket=staked');
    expect(staked.data.map((e) => [e.kind, e.amount.micros])).toEqual([['unstake', -50], ['stake', 300], ['stake', 200], ['stake', 100]]);
    expect(staked.data[1]).toEqual({ transfer_id: expect.any(Number), kind: 'stake', amount: amount(300), memo: null, created_at: new Date(T0).toISOString() });
    expect(staked.next).toBeNull();

    const page = await history('?bucket=staked&limit=3');
    expect(page.data.map((e) => e.amount.micros)).toEqual([-50, 300, 200]);
    expect(page.next).toBe(page.data[2]?.transfer_id);
    expect((await history(`?bucket=staked&limit=3&before=${page.next}`)).data.map((e) => e.amount.micros)).toEqual([100]);

    // available (the default bucket): the grant, then each stake out of it.
    expect((await history('')).data.map((e) => [e.kind, e.amount.micros])).toEqual([['stake', -300], ['stake', -200], ['stake', -100], ['faucet', DPHN]]);
    expect((await history('?bucket=unbonding')).data.map((e) => [e.kind, e.amount.micros])).toEqual([['unstake', 50]]);
    expect((await history('?bucket=pending')).data).toEqual([]);
  });

  it('answers a bad bucket or page with 400 naming it', async () => {
    const net = await network();
    const id = new TestIdentity().contributorId;
    await expectError(await net.get(`/api/contributors/${id}/history?bucket=savings`), 400, { type: 'invalid_request_error', param: 'bucket', code: null });
    await expectError(await net.get(`/api/contributors/${id}/history?bucket=staked&limit=0`), 400, { type: 'invalid_request_error', param: 'limit', code: null });
    await expectError(await net.get(`/api/contributors/${id}/history?before=nope`), 400, { type: 'invalid_request_error', param: 'before', code: null });
  });
});
