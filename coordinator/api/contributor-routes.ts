/**
 * Contributors' records and DPHN (issues #4, #5), mounted at /api:
 *   GET  /contributors/:id           audit record, reputation, balances, minimum stake per model
 *   GET  /contributors/:id/history   ledger entries of one bucket (?bucket=available|pending|staked|unbonding, ?limit, ?before)
 *   POST /contributors/:id/stake     available → staked
 *   POST /contributors/:id/unstake   staked → unbonding (available after the unbonding delay; slashable until then)
 * A contributor has no API key: its identity is the browser's Ed25519 key, so stake and unstake carry a signature
 * over accountStatementOf(action, id, amount, at) (src/protocol/identity.ts) by the key whose hash is the id, made
 * within 5 minutes. The statement's hash keys the transfer: a replayed request moves nothing again.
 */
import { Hono } from 'hono';
import { accountActionMessage, accountStatementOf, toHex } from '../../src/protocol/identity.ts';
import { contributorActionSchema, type ContributorView, type StandingView } from '../../src/protocol/accounts.ts';
import { contributorAccount } from '../ledger/accounts.ts';
import type { ContributorAccounts } from '../ledger/contributor-accounts.ts';
import type { LedgerStore } from '../ledger/ledger-store.ts';
import { contributorIdFromPublicKey, isSoundPublicKey, sha256, verifyEd25519 } from '../identity/ed25519.ts';
import type { AuditBook } from '../trust/audit-book.ts';
import { ApiError, insufficientFunds, invalidRequest } from './errors.ts';
import { pageQuery, parseJsonBody } from './json-body.ts';
import { amount, historyPage } from './views.ts';

export const ACTION_WINDOW_MS = 5 * 60_000;
const BUCKETS = ['available', 'pending', 'staked', 'unbonding'] as const;

export interface ContributorRoutesDeps {
  book: AuditBook;
  accounts: ContributorAccounts;
  ledger: LedgerStore;
  models: () => string[];
  now: () => number;
}

export function contributorRoutes(deps: ContributorRoutesDeps): Hono {
  const routes = new Hono();
  const { book, accounts } = deps;

  const standingView = async (id: string): Promise<StandingView> => {
    const s = await accounts.standing(id);
    return {
      available: amount(s.available),
      pending: amount(s.pending),
      staked: amount(s.staked),
      unbonding: amount(s.unbonding),
      unbonding_entries: s.unbondingEntries.map((e) => ({ amount: amount(e.amount), release_at: new Date(e.releaseAt).toISOString() })),
      minimum_stake: Object.fromEntries(deps.models().map((m) => [m, amount(accounts.minimumStake(id, m, book.auditProbability(id), s.pending))])),
    };
  };

  routes.get('/contributors/:contributorId', async (c) => {
    const id = c.req.param('contributorId');
    const dphn = await standingView(id);
    if (!book.contributor(id) && [dphn.available, dphn.pending, dphn.staked, dphn.unbonding].every((a) => a.micros === 0))
      throw new ApiError(404, 'invalid_request_error', `No contributor '${id}' has served, verified or held DPHN here.`, 'contributor_not_found', 'contributorId');
    const view: ContributorView = { ...book.contributor(id, true), dphn };
    return c.json(view);
  });

  routes.get('/contributors/:contributorId/history', async (c) => {
    const bucket = c.req.query('bucket') ?? 'available';
    if (!(BUCKETS as readonly string[]).includes(bucket)) throw invalidRequest(`Invalid value for 'bucket': one of ${BUCKETS.join(', ')}.`, 'bucket');
    const page = pageQuery(c.req.query('limit'), c.req.query('before'));
    return c.json(historyPage(await deps.ledger.history(contributorAccount(c.req.param('contributorId'), bucket as (typeof BUCKETS)[number]), page), page.limit));
  });

  for (const action of ['stake', 'unstake'] as const) {
    routes.post(`/contributors/:contributorId/${action}`, async (c) => {
      const id = c.req.param('contributorId');
      const body = parseJsonBody(await c.req.text(), contributorActionSchema);
      if (!isSoundPublicKey(body.publicKey) || contributorIdFromPublicKey(body.publicKey) !== id)
        throw new ApiError(401, 'invalid_request_error', `The public key is not contributor ${id}'s.`, 'invalid_signature', 'publicKey');
      if (Math.abs(deps.now() - body.at) > ACTION_WINDOW_MS) throw invalidRequest(`The request was signed at ${body.at}; it must be signed within 5 minutes of now (${deps.now()}).`, 'at', 'stale_signature');
      const statement = accountStatementOf(action, id, body.amount, body.at);
      const digest = sha256(statement);
      if (!verifyEd25519(body.publicKey, accountActionMessage(digest), body.signature))
        throw new ApiError(401, 'invalid_request_error', `The signature does not cover this ${action} by ${id}.`, 'invalid_signature', 'signature');
      const key = `${action}:${toHex(digest)}`;
      const result = action === 'stake' ? await accounts.stake(id, body.amount, key) : await accounts.unstake(id, body.amount, key);
      if (!result.ok) {
        if (result.reason === 'insufficient_funds') throw insufficientFunds(`Not enough ${action === 'stake' ? 'available' : 'staked'} DPHN to ${action} ${amount(body.amount).dphn}.`);
        throw invalidRequest(result.message);
      }
      return c.json({ contributor_id: id, action, amount: amount(body.amount), replayed: result.replayed, dphn: await standingView(id) });
    });
  }
  return routes;
}
