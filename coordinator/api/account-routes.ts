/**
 * Requester accounts (issue #5; shapes in src/protocol/accounts.ts), mounted at /api:
 *   POST   /accounts              a new account with its first key and the faucet's starter credits (rate-limited
 *                                 per client address); the key is in this response only
 *   GET    /account               the caller's account and balance
 *   GET    /account/history       its ledger entries, newest first (?limit, ?before)
 *   GET    /account/usage         its jobs: held, charged, refunded (?limit, ?before)
 *   GET    /account/keys          its keys (never the keys themselves)
 *   POST   /account/keys          another key, shown once
 *   DELETE /account/keys/:keyId   revokes a key at once
 * Every /account call needs a key of the account (not the demo key).
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { randomBytes } from 'node:crypto';
import { createAccountSchema, createKeySchema, type AccountView, type NewKeyView } from '../../src/protocol/accounts.ts';
import { requesterAccount } from '../ledger/accounts.ts';
import type { Store } from '../ledger/economy-store.ts';
import { newApiKey, type AuthEnv } from './auth.ts';
import { ApiError, rateLimited } from './errors.ts';
import { pageQuery, parseJsonBody } from './json-body.ts';
import type { RateLimiter } from './rate-limit.ts';
import { amount, historyPage, keyView, usageView } from './views.ts';

export interface AccountRoutesDeps {
  store: Pick<Store, 'requesters' | 'billing' | 'ledger'>;
  /** Authenticates /account calls (demo key refused). */
  auth: MiddlewareHandler<AuthEnv>;
  /** µDPHN granted once to each new account. */
  starterCredits: number;
  /** New accounts per client address. */
  faucetLimiter: RateLimiter;
  clientAddress: (c: Context) => string;
}

export function accountRoutes(deps: AccountRoutesDeps): Hono<AuthEnv> {
  const routes = new Hono<AuthEnv>();
  const { requesters, billing, ledger } = deps.store;

  const accountView = async (id: string): Promise<AccountView> => {
    const requester = await requesters.get(id);
    if (!requester) throw new ApiError(404, 'invalid_request_error', 'This account no longer exists.', 'account_not_found');
    return { id: requester.id, name: requester.name, created_at: requester.createdAt, balance: amount(await ledger.balance(requesterAccount(id))) };
  };

  /** A key just made, as stored, with its secret: the one response that carries it. */
  const shownOnce = async (requesterId: string, keyId: string, secret: string): Promise<NewKeyView> => {
    const stored = (await requesters.keys(requesterId)).find((k) => k.id === keyId);
    if (!stored) throw new ApiError(500, 'server_error', 'The new key was not stored.', 'internal_error');
    return { ...keyView(stored), key: secret };
  };

  routes.post('/accounts', async (c) => {
    const body = parseJsonBody(await c.req.text(), createAccountSchema);
    const taken = deps.faucetLimiter.take(deps.clientAddress(c));
    if (!taken.ok) throw rateLimited('Too many new accounts from this address.', taken.retryAfterMs);
    const id = `acct_${randomBytes(8).toString('hex')}`;
    const { secret, record } = newApiKey('first key');
    await requesters.create({ id, name: body.name ?? 'unnamed', key: record, starterCredits: deps.starterCredits });
    return c.json({ account: await accountView(id), key: await shownOnce(id, record.id, secret) }, 201);
  });

  routes.use('/account', deps.auth);
  routes.use('/account/*', deps.auth);
  routes.get('/account', async (c) => c.json(await accountView(c.get('caller').requesterId)));
  routes.get('/account/history', async (c) => {
    const page = pageQuery(c.req.query('limit'), c.req.query('before'));
    return c.json(historyPage(await ledger.history(requesterAccount(c.get('caller').requesterId), page), page.limit));
  });
  routes.get('/account/usage', async (c) => {
    const { jobs, next } = await billing.usage(c.get('caller').requesterId, pageQuery(c.req.query('limit'), c.req.query('before')));
    return c.json({ data: jobs.map(usageView), next });
  });
  routes.get('/account/keys', async (c) => c.json({ data: (await requesters.keys(c.get('caller').requesterId)).map(keyView) }));
  routes.post('/account/keys', async (c) => {
    const body = parseJsonBody(await c.req.text(), createKeySchema);
    const { secret, record } = newApiKey(body.name ?? null);
    await requesters.addKey(c.get('caller').requesterId, record);
    return c.json(await shownOnce(c.get('caller').requesterId, record.id, secret), 201);
  });
  routes.delete('/account/keys/:keyId', async (c) => {
    const keyId = c.req.param('keyId');
    if (!(await requesters.revokeKey(c.get('caller').requesterId, keyId))) throw new ApiError(404, 'invalid_request_error', `No active key '${keyId}' on this account.`, 'key_not_found', 'keyId');
    return c.json({ id: keyId, revoked: true });
  });
  return routes;
}
