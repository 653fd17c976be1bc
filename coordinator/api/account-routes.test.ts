import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_API_KEY, type AccountView, type ApiKeyView, type LedgerEntryView, type NewKeyView, type Page, type UsageView } from '../../src/protocol/accounts.ts';
import { testEconomy } from '../../test/unit/economy.ts';
import { expectError, testApp, withKey, writeTestModels, type TestModels } from '../../test/unit/test-app.ts';
import type { EconomySettings } from '../economy.ts';
import { MINT, requesterAccount } from '../ledger/accounts.ts';

const MODEL = 'tiny-a';
/** 2.5 DPHN: a starter grant with a fraction, so both its µDPHN and its DPHN string are pinned. */
const STARTER = 2_500_000;
const T0 = Date.parse('2026-12-01T10:00:00Z');

let fixture: TestModels;

beforeAll(async () => {
  fixture = await writeTestModels('dolphin-accounts-', { [MODEL]: {} });
});
afterAll(async () => {
  await fixture.remove();
});

/**
 * A fresh coordinator with its own economy (an in-memory store, fresh rate limiters) and a clock the test moves.
 * Every client is 127.0.0.1 (testEconomy), so the per-address limits are this test's alone.
 */
async function network(settings: Partial<EconomySettings> = {}) {
  const clock = { now: T0 };
  const economy = await testEconomy({ catalogue: fixture.catalogue, settings: { starterCredits: STARTER, faucetPerHour: 2, demoPerMinute: 2, ...settings }, now: () => clock.now });
  const { app } = testApp({ models: fixture, economy: economy.wiring.deps });
  /** A request with `key` as its bearer token (none when null), and `json` as its JSON body. */
  const call = (path: string, key: string | null, init: RequestInit & { json?: unknown } = {}) => {
    const { json, ...rest } = init;
    const request = withKey(rest, key);
    if (json !== undefined) {
      request.headers.set('Content-Type', 'application/json');
      request.body = typeof json === 'string' ? json : JSON.stringify(json);
    }
    return app.request(path, request);
  };
  const createAccount = async (body: unknown = {}) => {
    const response = await call('/api/accounts', null, { method: 'POST', json: body });
    expect(response.status).toBe(201);
    return (await response.json()) as { account: AccountView; key: NewKeyView };
  };
  return { app, call, createAccount, economy, store: economy.store, clock };
}

const RATE_LIMITED = { type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } as const;

describe('POST /api/accounts', () => {
  it('creates an account with the starter credits and a dphn_ key shown once', async () => {
    const net = await network();
    const response = await net.call('/api/accounts', null, { method: 'POST', json: { name: 'Ada' } });

    expect(response.status).toBe(201);
    const text = await response.text();
    const { account, key } = JSON.parse(text) as { account: AccountView; key: NewKeyView };
    expect(account).toEqual({ id: expect.stringMatching(/^acct_[0-9a-f]{16}$/), name: 'Ada', created_at: new Date(T0).toISOString(), balance: { micros: STARTER, dphn: '2.5 DPHN' } });
    expect(key).toEqual({ id: expect.stringMatching(/^key_[0-9a-f]{16}$/), prefix: key.key.slice(0, 12), name: 'first key', created_at: expect.any(String), revoked_at: null, key: expect.stringMatching(/^dphn_[A-Za-z0-9_-]{32}$/) });
    expect(await net.store.ledger.balance(requesterAccount(account.id))).toBe(STARTER);

    // The key works, and no later response shows it again.
    const later = [await net.call('/api/account', key.key), await net.call('/api/account/keys', key.key), await net.call('/api/account/history', key.key), await net.call('/api/account/usage', key.key)];
    for (const r of later) {
      expect(r.status).toBe(200);
      expect(await r.text()).not.toContain(key.key);
    }
    const keys = (await (await net.call('/api/account/keys', key.key)).json()) as { data: ApiKeyView[] };
    expect(keys.data).toEqual([{ id: key.id, prefix: key.key.slice(0, 12), name: 'first key', created_at: expect.any(String), revoked_at: null }]);
  });

  // Fails today: the routes stamp a new key's created_at with the wall clock (new Date()), the store with its own
  // clock, so the creation response and every later listing disagree about when the same key was made.
  it('shows a new key with the created_at it is listed with later', async () => {
    const net = await network();
    const { account, key } = await net.createAccount();
    const listed = (await (await net.call('/api/account/keys', key.key)).json()) as { data: ApiKeyView[] };
    expect(listed.data[0]?.created_at).toBe(account.created_at);
    expect(key.created_at).toBe(listed.data[0]?.created_at);

    net.clock.now += 5000;
    const second = (await (await net.call('/api/account/keys', key.key, { method: 'POST' })).json()) as NewKeyView;
    const again = (await (await net.call('/api/account/keys', key.key)).json()) as { data: ApiKeyView[] };
    expect(second.created_at).toBe(again.data.find((k) => k.id === second.id)?.created_at);
  });

  it("names an account 'unnamed' when the body is empty or {}", async () => {
    const net = await network();
    const empty = await net.call('/api/accounts', null, { method: 'POST' });
    expect(empty.status).toBe(201);
    expect(((await empty.json()) as { account: AccountView }).account.name).toBe('unnamed');
    expect((await net.createAccount({})).account.name).toBe('unnamed');
  });

  it('grants at most faucetPerHour accounts per address, then 429 with Retry-After and no account made', async () => {
    const net = await network({ faucetPerHour: 2 });
    const supply = async () => (await net.store.ledger.totals()).supply;
    const before = await supply();
    await net.createAccount({ name: 'one' });
    net.clock.now += 60_000;
    await net.createAccount({ name: 'two' });
    expect(await supply()).toBe(before + 2 * STARTER);

    const refused = await net.call('/api/accounts', null, { method: 'POST', json: { name: 'three' } });
    // The first grant leaves the hour-long window 59 minutes from now.
    expect(refused.headers.get('retry-after')).toBe(String(59 * 60));
    const body = await expectError(refused, 429, RATE_LIMITED);
    expect(body.error.message).toContain('3540 s');
    expect(await supply()).toBe(before + 2 * STARTER);

    // Once the first grant is an hour old, one more is allowed, and only one.
    net.clock.now = T0 + 3600_000;
    await net.createAccount({ name: 'three' });
    await expectError(await net.call('/api/accounts', null, { method: 'POST', json: {} }), 429, RATE_LIMITED);
    expect(await supply()).toBe(before + 3 * STARTER);
  });

  it('answers a bad body with a 400 that names the problem, without using up the faucet', async () => {
    const net = await network({ faucetPerHour: 1 });
    const post = (body: string) => net.call('/api/accounts', null, { method: 'POST', json: body });
    await expectError(await post('{"name":'), 400, { type: 'invalid_request_error', param: null, code: 'invalid_json' });
    await expectError(await post('[]'), 400, { type: 'invalid_request_error', param: null, code: 'invalid_json' });
    await expectError(await post(JSON.stringify({ name: 'x', admin: true })), 400, { type: 'invalid_request_error', param: 'admin', code: 'unknown_parameter' });
    await expectError(await post(JSON.stringify({ name: '' })), 400, { type: 'invalid_request_error', param: 'name', code: 'invalid_value' });
    await expectError(await post(JSON.stringify({ name: 'x'.repeat(81) })), 400, { type: 'invalid_request_error', param: 'name', code: 'invalid_value' });
    // Nothing under /api takes more than 16 KB: a large body is refused before it is read whole.
    await expectError(await post(JSON.stringify({ name: 'x', pad: 'y'.repeat(20_000) })), 413, { type: 'invalid_request_error', param: null, code: 'request_too_large' });
    await expectError(await post(JSON.stringify({ name: 7 })), 400, { type: 'invalid_request_error', param: 'name', code: 'invalid_value' });

    await net.createAccount({ name: 'the one allowed' });
  });
});

describe('API keys', () => {
  it('answers 401 missing_api_key without Authorization, and 401 invalid_api_key for a wrong key', async () => {
    const net = await network();
    for (const path of ['/api/account', '/api/account/keys', '/api/account/history', '/api/account/usage', '/v1/models']) {
      await expectError(await net.call(path, null), 401, { type: 'invalid_request_error', param: null, code: 'missing_api_key' });
      await expectError(await net.call(path, null, { headers: { Authorization: 'Basic abc' } }), 401, { type: 'invalid_request_error', param: null, code: 'missing_api_key' });
      await expectError(await net.call(path, 'dphn_wrong'), 401, { type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
    }
  });

  it("shows the caller's own account and balance", async () => {
    const net = await network();
    const { account, key } = await net.createAccount({ name: 'Ada' });
    const response = await net.call('/api/account', key.key);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(account);
    // The scheme is case-insensitive, as HTTP's are.
    expect((await net.app.request('/api/account', { headers: { Authorization: `bearer ${key.key}` } })).status).toBe(200);
    // The test requester's key sees its own account, not Ada's.
    expect(((await (await net.call('/api/account', net.economy.apiKey)).json()) as AccountView).id).toBe('acct_test');
  });

  it('makes more keys, each shown once, and revokes one at once while the other keeps working', async () => {
    const net = await network();
    const { account, key: first } = await net.createAccount();

    const made = await net.call('/api/account/keys', first.key, { method: 'POST', json: { name: 'laptop' } });
    expect(made.status).toBe(201);
    const second = (await made.json()) as NewKeyView;
    expect(second).toMatchObject({ name: 'laptop', revoked_at: null, prefix: second.key.slice(0, 12) });
    expect(second.key).toMatch(/^dphn_/);
    expect(second.key).not.toBe(first.key);
    expect(((await (await net.call('/api/account', second.key)).json()) as AccountView).id).toBe(account.id);
    const unnamed = (await (await net.call('/api/account/keys', second.key, { method: 'POST' })).json()) as NewKeyView;
    expect(unnamed.name).toBeNull();

    const listed = (await (await net.call('/api/account/keys', first.key)).json()) as { data: ApiKeyView[] };
    expect(listed.data.map((k) => k.id).sort()).toEqual([first.id, second.id, unnamed.id].sort());
    expect(JSON.stringify(listed)).not.toMatch(/dphn_[A-Za-z0-9_-]{20,}/);

    const revoked = await net.call(`/api/account/keys/${first.id}`, second.key, { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toEqual({ id: first.id, revoked: true });

    await expectError(await net.call('/api/account', first.key), 401, { type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
    await expectError(await net.call('/v1/models', first.key), 401, { type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
    expect((await net.call('/api/account', second.key)).status).toBe(200);
    expect((await net.call('/v1/models', second.key)).status).toBe(200);

    const after = (await (await net.call('/api/account/keys', second.key)).json()) as { data: ApiKeyView[] };
    expect(after.data.find((k) => k.id === first.id)?.revoked_at).toEqual(expect.any(String));
    expect(after.data.find((k) => k.id === second.id)?.revoked_at).toBeNull();

    // Revoking it again, or a key that never was, is a 404 naming the key.
    await expectError(await net.call(`/api/account/keys/${first.id}`, second.key, { method: 'DELETE' }), 404, { type: 'invalid_request_error', param: 'keyId', code: 'key_not_found' });
    await expectError(await net.call('/api/account/keys/key_nope', second.key, { method: 'DELETE' }), 404, { type: 'invalid_request_error', param: 'keyId', code: 'key_not_found' });
  });

  it("cannot revoke another account's key", async () => {
    const net = await network();
    const mallory = await net.createAccount({ name: 'mallory' });
    const alice = await net.createAccount({ name: 'alice' });
    await expectError(await net.call(`/api/account/keys/${alice.key.id}`, mallory.key.key, { method: 'DELETE' }), 404, { type: 'invalid_request_error', param: 'keyId', code: 'key_not_found' });
    expect((await net.call('/api/account', alice.key.key)).status).toBe(200);
  });

  it('answers a bad body for a new key with 400', async () => {
    const net = await network();
    const { key } = await net.createAccount();
    await expectError(await net.call('/api/account/keys', key.key, { method: 'POST', json: '{' }), 400, { type: 'invalid_request_error', param: null, code: 'invalid_json' });
    await expectError(await net.call('/api/account/keys', key.key, { method: 'POST', json: { name: 'a', scope: 'all' } }), 400, { type: 'invalid_request_error', param: 'scope', code: 'unknown_parameter' });
    expect(((await (await net.call('/api/account/keys', key.key)).json()) as { data: ApiKeyView[] }).data).toHaveLength(1);
  });
});

describe('the demo key', () => {
  it('is refused on account routes with 403 permission_error', async () => {
    const net = await network();
    for (const [path, method] of [['/api/account', 'GET'], ['/api/account/keys', 'GET'], ['/api/account/keys', 'POST'], ['/api/account/history', 'GET'], ['/api/account/usage', 'GET'], ['/api/account/keys/key_x', 'DELETE']] as const)
      await expectError(await net.call(path, DEMO_API_KEY, { method }), 403, { type: 'permission_error', param: null, code: 'demo_key' });
    // Being refused there spends none of the demo key's allowance.
    expect((await net.call('/v1/models', DEMO_API_KEY)).status).toBe(200);
    expect((await net.call('/v1/models', DEMO_API_KEY)).status).toBe(200);
  });

  // A completion (POST) is what costs the network; an empty body is refused with 400 after it was counted.
  const demoPost = (net: Awaited<ReturnType<typeof network>>, headers: Record<string, string> = {}) =>
    net.call('/v1/chat/completions', DEMO_API_KEY, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json', ...headers } });

  it('serves /v1 completions up to demoPerMinute per address, then 429 with Retry-After; listing models is not counted', async () => {
    const net = await network({ demoPerMinute: 2 });
    expect((await demoPost(net)).status).toBe(400);
    net.clock.now += 10_000;
    expect((await demoPost(net)).status).toBe(400);
    for (let i = 0; i < 5; i++) expect((await net.call('/v1/models', DEMO_API_KEY)).status).toBe(200);

    const refused = await demoPost(net);
    expect(refused.headers.get('retry-after')).toBe('50');
    await expectError(refused, 429, RATE_LIMITED);
    // A real key is not limited by the demo key's allowance.
    expect((await net.call('/v1/chat/completions', net.economy.apiKey, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } })).status).toBe(400);

    net.clock.now = T0 + 60_000;
    expect((await demoPost(net)).status).toBe(400);
    await expectError(await demoPost(net), 429, RATE_LIMITED);
  });

  it('shows Retry-After to cross-origin callers of /v1', async () => {
    const net = await network({ demoPerMinute: 0 });
    const refused = await demoPost(net, { Origin: 'https://elsewhere.example' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(refused.headers.get('access-control-expose-headers')).toContain('Retry-After');
  });
});

describe('GET /api/account/history and /usage', () => {
  it('pages the ledger entries newest first with a next cursor', async () => {
    const net = await network();
    const { account, key } = await net.createAccount();
    const ids: number[] = [];
    for (const amount of [1, 2, 3, 4]) {
      const result = await net.store.ledger.transfer({ idempotencyKey: `test:${amount}`, kind: 'test', memo: `grant ${amount}`, postings: [{ account: MINT, amount: -amount }, { account: requesterAccount(account.id), amount }] });
      if (!result.ok) throw new Error(result.message);
      ids.push(result.transferId);
    }
    const page = async (query: string) => {
      const response = await net.call(`/api/account/history${query}`, key.key);
      expect(response.status).toBe(200);
      return (await response.json()) as Page<LedgerEntryView>;
    };

    const first = await page('?limit=2');
    expect(first.data).toEqual([
      { transfer_id: ids[3], kind: 'test', amount: { micros: 4, dphn: '0.000004 DPHN' }, memo: 'grant 4', created_at: new Date(T0).toISOString() },
      { transfer_id: ids[2], kind: 'test', amount: { micros: 3, dphn: '0.000003 DPHN' }, memo: 'grant 3', created_at: new Date(T0).toISOString() },
    ]);
    expect(first.next).toBe(ids[2]);
    const second = await page(`?limit=2&before=${first.next}`);
    expect(second.data.map((e) => e.memo)).toEqual(['grant 2', 'grant 1']);
    expect(second.next).toBe(ids[0]);
    const last = await page(`?limit=2&before=${second.next}`);
    expect(last.data).toEqual([{ transfer_id: expect.any(Number), kind: 'faucet', amount: { micros: STARTER, dphn: '2.5 DPHN' }, memo: 'starter credits', created_at: new Date(T0).toISOString() }]);
    expect(last.next).toBeNull();

    const all = await page('');
    expect(all.data.map((e) => e.amount.micros)).toEqual([4, 3, 2, 1, STARTER]);
    expect(all.next).toBeNull();
    // Another account's entries are not in it.
    expect((await (await net.call('/api/account/history', net.economy.apiKey)).json()) as Page<LedgerEntryView>).toMatchObject({ data: [{ kind: 'faucet', amount: { micros: 1e12 } }] });
  });

  it.each([['0'], ['101'], ['1.5'], ['abc'], ['']])('answers ?limit=%s with 400 param limit', async (limit) => {
    const net = await network();
    const { key } = await net.createAccount();
    for (const path of ['/api/account/history', '/api/account/usage'])
      await expectError(await net.call(`${path}?limit=${limit}`, key.key), 400, { type: 'invalid_request_error', param: 'limit', code: null });
  });

  it.each([['0'], ['-3'], ['x']])('answers ?before=%s with 400 param before', async (before) => {
    const net = await network();
    const { key } = await net.createAccount();
    await expectError(await net.call(`/api/account/history?before=${before}`, key.key), 400, { type: 'invalid_request_error', param: 'before', code: null });
  });

  it("lists the account's jobs, newest first, with a cursor", async () => {
    const net = await network();
    const { account, key } = await net.createAccount();
    for (const n of [1, 2, 3]) await net.store.billing.escrow({ jobId: `job-${n}`, requesterId: account.id, model: MODEL, amount: 100 * n });
    await net.store.billing.refund('job-1', 'test');
    const first = (await (await net.call('/api/account/usage?limit=2', key.key)).json()) as Page<UsageView>;
    expect(first.data.map((j) => [j.job_id, j.status, j.escrowed.micros])).toEqual([['job-3', 'escrowed', 300], ['job-2', 'escrowed', 200]]);
    expect(first.next).toEqual(expect.any(Number));
    const second = (await (await net.call(`/api/account/usage?limit=2&before=${first.next}`, key.key)).json()) as Page<UsageView>;
    expect(second.data).toEqual([expect.objectContaining({ job_id: 'job-1', status: 'refunded', reason: 'test', charged: null })]);
    expect(second.next).toBeNull();
    expect(((await (await net.call('/api/account', key.key)).json()) as AccountView).balance.micros).toBe(STARTER - 500);
  });
});

describe('unknown /api routes', () => {
  it.each([
    ['GET', '/api/nope'],
    ['POST', '/api/account/nope'],
    ['PUT', '/api/accounts'],
    ['GET', '/api/accounts'],
  ])('answers %s %s with a JSON 404 unknown_url', async (method, path) => {
    const net = await network();
    const body = await expectError(await net.call(path, net.economy.apiKey, { method }), 404, { type: 'invalid_request_error', param: null, code: 'unknown_url' });
    expect(body.error.message).toContain(`${method} ${path}`);
  });
});
