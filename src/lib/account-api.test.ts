import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEconomy } from '../../test/unit/economy.ts';
import { testApp, writeTestModels, type TestModels } from '../../test/unit/test-app.ts';
import { AccountApiError, accountApi, errorFromResponse } from './account-api.ts';

const MODEL = 'tiny-a';
const STARTER = 2_500_000;
let fixture: TestModels;

beforeAll(async () => {
  fixture = await writeTestModels('dolphin-account-api-', { [MODEL]: {} });
});
afterAll(async () => {
  await fixture.remove();
});

/** The client over a fresh coordinator app (its own in-memory economy; one new account per hour per address). */
async function client() {
  return (await clientAndStore()).api;
}

async function clientAndStore() {
  const economy = await testEconomy({ catalogue: fixture.catalogue, settings: { starterCredits: STARTER, faucetPerHour: 1 } });
  const { app } = testApp({ models: fixture, economy: economy.wiring.deps });
  return { api: accountApi(async (input, init) => app.request(input, init)), store: economy.store };
}

/** The rejection `promise` ends with, which must be an AccountApiError. */
async function failure(promise: Promise<unknown>): Promise<AccountApiError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(AccountApiError);
  return error as AccountApiError;
}

describe('accountApi against the coordinator', () => {
  it('creates an account, reads it with its key, makes and revokes another key', async () => {
    const api = await client();
    const { account, key } = await api.createAccount('Ada');
    expect(account.name).toBe('Ada');
    expect(await api.account(key.key)).toEqual(account);
    expect((await api.usage(key.key)).data).toEqual([]);

    const second = await api.createKey(key.key, 'ci');
    const listed = (await api.keys(key.key)).map((k) => [k.id, k.name, k.revoked_at]);
    expect(listed).toHaveLength(2);
    expect(listed).toEqual(expect.arrayContaining([[key.id, 'first key', null], [second.id, 'ci', null]]));
    expect(await api.revokeKey(key.key, second.id)).toEqual({ id: second.id, revoked: true });
    const revokedUse = await failure(api.account(second.key));
    expect(revokedUse.status).toBe(401);
  });

  it('pages through the history and the usage, newest first, each page from where the last ended', async () => {
    const { api, store } = await clientAndStore();
    const { account, key } = await api.createAccount('Pager');
    for (const i of [1, 2, 3]) await store.billing.escrow({ jobId: `job-${i}`, requesterId: account.id, model: MODEL, amount: 1000 * i });
    await store.billing.refund('job-2', 'the tab went away');

    const first = await api.history(key.key, { limit: 3 });
    expect(first.data.map((e) => [e.kind, e.amount.micros])).toEqual([['refund', 2000], ['escrow', -3000], ['escrow', -2000]]);
    const second = await api.history(key.key, { limit: 3, before: first.next });
    expect(second.data.map((e) => [e.kind, e.amount.micros])).toEqual([['escrow', -1000], ['faucet', STARTER]]);
    expect(second.next).toBeNull();

    const jobs = await api.usage(key.key, { limit: 2 });
    expect(jobs.data.map((j) => j.job_id)).toEqual(['job-3', 'job-2']);
    const older = await api.usage(key.key, { limit: 2, before: jobs.next });
    expect(older.data.map((j) => [j.job_id, j.status])).toEqual([['job-1', 'escrowed']]);
  });

  it('reports the faucet limit with the API message and when to try again', async () => {
    const api = await client();
    await api.createAccount(null);
    const limited = await failure(api.createAccount('again'));
    expect(limited.status).toBe(429);
    expect(limited.code).toBe('rate_limit_exceeded');
    expect(limited.retryAfter).toBeGreaterThan(0);
    expect(limited.message).toMatch(/Too many new accounts from this address\. Try again in \d+ s\./);
  });

  it('reports an invalid key as 401 with the API message', async () => {
    const api = await client();
    const invalid = await failure(api.account('dphn_not-a-key'));
    expect(invalid.status).toBe(401);
    expect(invalid.message.length).toBeGreaterThan(0);
    expect(invalid.message).not.toMatch(/HTTP 401/);
  });

  it('reads the models and their prices from /api/network', async () => {
    const api = await client();
    const network = await api.prices();
    expect(network.models).toEqual([MODEL]);
    expect(network.prices.map((p) => p.model)).toEqual([MODEL]);
    expect(network.prices[0]?.completion_per_1k.micros).toBeGreaterThan(0);
  });
});

describe('errorFromResponse', () => {
  it('falls back to the status when the body is not an API error', () => {
    for (const body of [null, 'text', { error: 'x' }, { error: { message: 5 } }]) expect(errorFromResponse(502, body, null).message).toBe('The network answered HTTP 502.');
  });
  it('ignores a Retry-After that is not a positive number', () => {
    for (const header of [null, '', 'soon', '0', '-3']) expect(errorFromResponse(429, { error: { message: 'Slow down.', code: 'x' } }, header)).toMatchObject({ message: 'Slow down.', retryAfter: null, code: 'x' });
  });
  it('says a network failure plainly', async () => {
    const api = accountApi(async () => {
      throw new TypeError('Failed to fetch');
    });
    expect(await failure(api.account('dphn_x'))).toMatchObject({ status: 0, message: 'Could not reach the network: Failed to fetch' });
  });
});
