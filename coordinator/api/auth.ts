/**
 * API keys (issue #5): every /v1 call and every account call carries `Authorization: Bearer <key>`. A key is 24
 * random bytes (base64url) after `dphn_`: high-entropy, so one SHA-256 is the right way to store it (a slow password
 * hash buys nothing against guessing 192 bits, and would cost every request). The demo key is public and served
 * only at a rate per client address; the network pays for its requests.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { createHash, randomBytes } from 'node:crypto';
import { DEMO_API_KEY } from '../../src/protocol/accounts.ts';
import type { NewApiKey, RequesterStore } from '../ledger/economy-store.ts';
import { ApiError, rateLimited } from './errors.ts';
import type { RateLimiter } from './rate-limit.ts';

export const DEMO_REQUESTER = { id: 'demo', name: 'Demo chat (paid by the network)' };

export interface Caller {
  requesterId: string;
  /** Requests with the public demo key: rate-limited, paid for by the network. */
  demo: boolean;
}

export type AuthEnv = { Variables: { caller: Caller } };

export const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** A new key: the secret (to show once) and what the store keeps. */
export function newApiKey(name: string | null): { secret: string; record: NewApiKey } {
  const secret = `dphn_${randomBytes(24).toString('base64url')}`;
  return { secret, record: { id: `key_${randomBytes(8).toString('hex')}`, sha256: sha256Hex(secret), prefix: secret.slice(0, 12), name } };
}

export interface AuthOptions {
  requesters: RequesterStore;
  demoLimiter: RateLimiter;
  clientAddress: (c: Context) => string;
  /** Whether this route takes the demo key (the chat API does; account management does not). */
  allowDemo: boolean;
}

const unauthorized = (message: string, code: string) => new ApiError(401, 'invalid_request_error', message, code);

export function requireApiKey(options: AuthOptions): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    if (c.req.method === 'OPTIONS') return next();
    const header = c.req.header('Authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1])
      throw unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'; create an account and key with POST /api/accounts.", 'missing_api_key');
    const secret = match[1];
    if (secret === DEMO_API_KEY) {
      if (!options.allowDemo) throw new ApiError(403, 'permission_error', 'The demo key can only make chat requests; create an account for your own key.', 'demo_key');
      // What costs the network (a completion) is counted; listing models is not.
      const taken = c.req.method === 'GET' ? { ok: true as const } : options.demoLimiter.take(options.clientAddress(c));
      if (!taken.ok) throw rateLimited('The demo key is rate-limited per client address.', taken.retryAfterMs);
      c.set('caller', { requesterId: DEMO_REQUESTER.id, demo: true });
      return next();
    }
    const found = await options.requesters.findKey(sha256Hex(secret));
    if (!found) throw unauthorized('Incorrect API key provided, or the key was revoked.', 'invalid_api_key');
    c.set('caller', { requesterId: found.requester.id, demo: false });
    return next();
  };
}
