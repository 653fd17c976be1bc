/**
 * The network page's API (issue #7; shapes in src/protocol/network.ts), mounted at /api:
 *   GET /network/live      Server-Sent Events: `history` (every sample kept and what is true now), then a `sample`
 *                          event per sampling interval, until the client hangs up
 *   GET /network/history   the `history` event's body as JSON
 *   GET /contributors      ?order=reputation (the only order) &limit=1..100 (10): the top contributors
 * A client that hangs up is unsubscribed at once; a client that reads slower than the samples come misses samples
 * rather than queueing them here (at most MAX_UNREAD events wait for it), and one that reads nothing for MAX_SKIPPED
 * samples is cut off. Live streams are capped in all and per client address; HEAD opens none.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { ContributorRanking } from '../../src/protocol/network.ts';
import type { NetworkFeed } from '../stats/network-feed.ts';
import type { AuditBook } from '../trust/audit-book.ts';
import { ApiError, invalidRequest, rateLimited } from './errors.ts';

export interface NetworkRoutesDeps {
  feed: Pick<NetworkFeed, 'snapshot' | 'subscribe'>;
  book: Pick<AuditBook, 'ranked'>;
  clientAddress: (c: Context) => string;
  /** Live streams open at once (default 1000), and from one client address (default 8). */
  maxStreams?: number;
  maxStreamsPerAddress?: number;
}

/** How long a browser's EventSource waits before it reconnects a dropped stream (the SSE `retry` field). */
const RECONNECT_MS = 2000;
const ORDERS = ['reputation'] as const;
/** Events written and not yet read by a live client, beyond which its samples are skipped. */
const MAX_UNREAD = 3;
/** Samples skipped in a row after which a client that stopped reading is disconnected (its EventSource reconnects). */
const MAX_SKIPPED = 15;

export function networkRoutes(deps: NetworkRoutesDeps): Hono {
  const routes = new Hono();
  const { feed } = deps;
  const open = new Map<string, number>();
  let total = 0;
  // Each event is serialized once, however many streams send it.
  const serialized = new WeakMap<object, string>();
  const json = (data: object) => {
    let text = serialized.get(data);
    if (text === undefined) serialized.set(data, (text = JSON.stringify(data)));
    return text;
  };

  routes.get('/network/history', (c) => c.json(feed.snapshot()));

  routes.get('/network/live', (c) => {
    // Hono answers HEAD with this handler and drops the body unread: no stream, or it would hold its place forever.
    if (c.req.method === 'HEAD') return c.body(null, 200, { 'Content-Type': 'text/event-stream' });
    const address = deps.clientAddress(c);
    if (total >= (deps.maxStreams ?? 1000)) throw new ApiError(503, 'service_unavailable_error', 'Too many live network streams are open. Try again shortly.', 'too_many_streams');
    if ((open.get(address) ?? 0) >= (deps.maxStreamsPerAddress ?? 8)) throw rateLimited('Too many live network streams are open from your address; close one first.', 10_000, 'too_many_streams');
    total++;
    open.set(address, (open.get(address) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      total--;
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    };
    return streamSSE(c, async (stream) => {
      const hungUp = new Promise<void>((resolve) => {
        stream.onAbort(resolve);
        c.req.raw.signal.addEventListener('abort', () => resolve(), { once: true });
        if (stream.aborted || c.req.raw.signal.aborted) resolve();
      });
      // Writes wait for the client to read. Past a few unread events, later samples are skipped: a stalled client
      // costs this little, and one that catches up sees the next sample.
      let unread = 0;
      let skipped = 0;
      const write = (event: string, data: object, retry?: number) => {
        unread++;
        return stream.writeSSE({ event, data: json(data), ...(retry ? { retry } : {}) }).finally(() => unread--);
      };
      const unsubscribe = feed.subscribe((event) => {
        if (stream.aborted || stream.closed) return;
        if (unread < MAX_UNREAD) {
          skipped = 0;
          return void write('sample', event);
        }
        // A client that stopped reading (a stalled or half-open connection) is cut off and gives its place back.
        if (++skipped >= MAX_SKIPPED) stream.abort();
      });
      try {
        await Promise.race([write('history', feed.snapshot(), RECONNECT_MS), hungUp]);
        await hungUp;
      } finally {
        unsubscribe();
        release();
      }
    });
  });

  routes.get('/contributors', (c) => {
    const order = c.req.query('order') ?? 'reputation';
    if (!(ORDERS as readonly string[]).includes(order)) throw invalidRequest(`Invalid value for 'order': one of ${ORDERS.join(', ')}.`, 'order');
    const limitText = c.req.query('limit') ?? '10';
    const limit = /^\d{1,3}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= 100)) throw invalidRequest("Invalid value for 'limit': an integer from 1 to 100.", 'limit');
    const body: ContributorRanking = { object: 'list', order: 'reputation', data: deps.book.ranked(limit) };
    return c.json(body);
  });
  return routes;
}
