import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { ErrorBody } from '../../src/protocol/api.ts';
import { networkHistoryEventSchema, networkSampleEventSchema, type ContributorRanking } from '../../src/protocol/network.ts';
import { RecordingLink } from '../../test/unit/tab-peer.ts';
import { NetworkFeed } from '../stats/network-feed.ts';
import { NetworkHistory } from '../stats/network-history.ts';
import { TabRegistry } from '../tabs/tab-registry.ts';
import { AuditBook } from '../trust/audit-book.ts';
import { DEFAULT_AUDIT_POLICY } from '../trust/audit-policy.ts';
import { RateLimitedError, toApiError } from './errors.ts';
import { networkRoutes, type NetworkRoutesDeps } from './network-routes.ts';

function setup(limits: Pick<NetworkRoutesDeps, 'maxStreams' | 'maxStreamsPerAddress'> = {}) {
  let clock = 1_000_000;
  const registry = new TabRegistry();
  const book = new AuditBook(DEFAULT_AUDIT_POLICY, () => new Date(clock));
  const history = new NetworkHistory({ capacity: 10, startedAt: clock });
  const feed = new NetworkFeed({ history, registry, waiting: () => 0, book, clock: () => clock, intervalMs: 1000 });
  let address = '10.0.0.1';
  const app = new Hono();
  app.route('/api', networkRoutes({ feed, book, clientAddress: () => address, ...limits }));
  app.onError((error, c) => {
    const apiError = toApiError(error);
    if (apiError instanceof RateLimitedError) c.header('Retry-After', String(apiError.retryAfterSeconds));
    return c.json(apiError.toBody(), apiError.status);
  });
  const tick = (ms = 1000) => {
    clock += ms;
    feed.tick();
  };
  return { app, registry, book, history, feed, tick, from: (a: string) => (address = a) };
}

function readyTab(registry: TabRegistry, contributorId: string, backend: 'wasm' | 'webgpu', models: string[]) {
  const tab = registry.add(new RecordingLink());
  Object.assign(tab, { ready: true, contributorId, backend, models });
  return tab;
}

/** Reads Server-Sent Events from a response body, one at a time. */
function sseReader(response: Response) {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    async next(): Promise<{ event: string; data: unknown; retry?: number }> {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const lines = buffer.slice(0, end).split('\n');
          buffer = buffer.slice(end + 2);
          const field = (name: string) => lines.filter((l) => l.startsWith(`${name}: `)).map((l) => l.slice(name.length + 2));
          const retry = field('retry')[0];
          return { event: field('event')[0] ?? 'message', data: JSON.parse(field('data').join('\n')), ...(retry ? { retry: Number(retry) } : {}) };
        }
        const { done, value } = await reader.read();
        if (done) throw new Error('the stream ended');
        buffer += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('network API', () => {
  it('serves the samples kept and what is true now as JSON', async () => {
    const { app, registry, book, history, tick } = setup();
    readyTab(registry, 'alice', 'wasm', ['dolphin-tiny']).runningJobs = 2;
    registry.add(new RecordingLink()); // not ready: not counted, not listed
    book.opened({ jobId: 'j1', model: 'dolphin-tiny', contributorId: 'alice', transcriptSha256: 'ab' });
    book.decided('j1', 'passed');
    history.tokensStreamed(12);
    history.jobEnded({ type: 'done', completionTokens: 12 }, 12);
    tick(2000);
    const body = networkHistoryEventSchema.parse(await (await app.request('/api/network/history')).json());
    expect(body.intervalMs).toBe(1000);
    expect(body.samples).toHaveLength(1);
    expect(body.samples[0]).toMatchObject({ tabs: { total: 1, byBackend: { wasm: 1 }, byModel: { 'dolphin-tiny': 1 } }, jobs: { running: 1, queuedInTabs: 1, waiting: 0 }, throughput: { tokensPerSecond: 6, jobsPerSecond: 0.5 }, audits: { passed: 1, convicted: 0 } });
    expect(body.now.tabs).toEqual([expect.objectContaining({ contributorId: 'alice', backend: 'wasm', models: ['dolphin-tiny'], runningJobs: 2, paused: false })]);
    expect(body.now.top).toEqual([expect.objectContaining({ contributorId: 'alice', audited: 1, passed: 1, convicted: 0 })]);
  });

  it('streams the history first, then each new sample, and unsubscribes a client that hangs up', async () => {
    const { app, registry, feed, tick } = setup();
    tick();
    const response = await app.request('/api/network/live');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events = sseReader(response);
    const first = await events.next();
    expect(first.event).toBe('history');
    expect(first.retry).toBeGreaterThan(0);
    expect(networkHistoryEventSchema.parse(first.data).samples).toHaveLength(1);
    expect(feed.subscribers).toBe(1);

    readyTab(registry, 'bob', 'webgpu', ['dolphin-small']);
    tick();
    const second = await events.next();
    expect(second.event).toBe('sample');
    const sample = networkSampleEventSchema.parse(second.data);
    expect(sample.sample.tabs.byBackend).toEqual({ webgpu: 1 });
    expect(sample.now.tabs.map((t) => t.contributorId)).toEqual(['bob']);

    await events.cancel();
    await settle();
    expect(feed.subscribers).toBe(0);
    expect(() => tick()).not.toThrow();
  });

  it('skips samples for a client that does not read rather than queueing them, and resumes when it reads', async () => {
    const { app, feed, tick } = setup();
    const events = sseReader(await app.request('/api/network/live'));
    const at = () => feed.snapshot().samples.at(-1)?.at;
    const first = await events.next();
    const history = networkHistoryEventSchema.parse(first.data);
    expect(history.samples).toEqual([]);
    const ticks: Array<number | undefined> = [];
    for (let i = 0; i < 10; i++) {
      tick();
      ticks.push(at());
    }
    await settle();
    // Of the 10 samples only the first few (up to MAX_UNREAD events in flight) waited for the client; after it read
    // them, the next sample reaches it.
    tick();
    const latest = at();
    const received: Array<number | undefined> = [];
    while (received.at(-1) !== latest && received.length < 5) received.push(networkSampleEventSchema.parse((await events.next()).data).sample.at);
    expect(received.at(-1)).toBe(latest);
    expect(received.length).toBeGreaterThanOrEqual(2);
    expect(received.length).toBeLessThanOrEqual(4);
    expect(received.slice(0, -1)).toEqual(ticks.slice(0, received.length - 1));
    expect(feed.subscribers).toBe(1);
    await events.cancel();
  });

  it('cuts off a client that reads nothing for many samples, and frees its place', async () => {
    const { app, feed, tick } = setup({ maxStreamsPerAddress: 1 });
    const stalled = await app.request('/api/network/live');
    expect(stalled.status).toBe(200);
    await settle();
    expect(feed.subscribers).toBe(1);
    for (let i = 0; i < 30; i++) tick();
    await settle();
    expect(feed.subscribers).toBe(0);
    const again = await app.request('/api/network/live');
    expect(again.status).toBe(200);
    await again.body?.cancel();
  });

  it('answers HEAD without opening a stream or taking a place', async () => {
    const { app, feed } = setup({ maxStreamsPerAddress: 1 });
    for (let i = 0; i < 3; i++) {
      const head = await app.request('/api/network/live', { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toBe('text/event-stream');
    }
    await settle();
    expect(feed.subscribers).toBe(0);
    const get = await app.request('/api/network/live');
    expect(get.status).toBe(200);
    await get.body?.cancel();
  });

  it('caps live streams per client address (429 with Retry-After) and in all (503); a closed stream frees its place', async () => {
    const { app, from } = setup({ maxStreams: 3, maxStreamsPerAddress: 2 });
    const open = [sseReader(await app.request('/api/network/live')), sseReader(await app.request('/api/network/live'))];
    for (const s of open) await s.next();
    const third = await app.request('/api/network/live');
    expect(third.status).toBe(429);
    expect(third.headers.get('Retry-After')).toBe('10');
    expect(((await third.json()) as ErrorBody).error).toMatchObject({ type: 'rate_limit_error', code: 'too_many_streams' });

    from('10.0.0.2');
    const other = sseReader(await app.request('/api/network/live'));
    await other.next();
    const full = await app.request('/api/network/live');
    expect(full.status).toBe(503);
    expect(((await full.json()) as ErrorBody).error).toMatchObject({ type: 'service_unavailable_error', code: 'too_many_streams' });

    await open[0]?.cancel();
    await settle();
    from('10.0.0.1');
    const again = await app.request('/api/network/live');
    expect(again.status).toBe(200);
    await again.body?.cancel();
    await open[1]?.cancel();
    await other.cancel();
  });

  it('lists the top contributors by reputation, 10 by default', async () => {
    const { app, book } = setup();
    let n = 0;
    for (let i = 0; i < 12; i++) {
      const id = `c${String(i).padStart(2, '0')}`;
      book.opened({ jobId: `j${n++}`, model: 'm', contributorId: id, transcriptSha256: 'ab' });
      for (let k = 0; k < i % 3; k++) {
        book.opened({ jobId: `j${n}`, model: 'm', contributorId: id, transcriptSha256: 'ab' });
        book.decided(`j${n++}`, 'passed');
      }
    }
    const all = (await (await app.request('/api/contributors')).json()) as ContributorRanking;
    expect(all.object).toBe('list');
    expect(all.data).toHaveLength(10);
    const reputations = all.data.map((r) => r.reputation);
    expect(reputations).toEqual([...reputations].sort((a, b) => b - a));
    expect(all.data[0]).toMatchObject({ passed: 2, convicted: 0 });
    const one = (await (await app.request('/api/contributors?order=reputation&limit=1')).json()) as ContributorRanking;
    expect(one.data).toEqual([all.data[0]]);
  });

  it("refuses an unknown order or a limit outside 1..100 with a 400 naming the parameter", async () => {
    const { app } = setup();
    for (const [query, param] of [['order=dphn', 'order'], ['limit=0', 'limit'], ['limit=101', 'limit'], ['limit=abc', 'limit'], ['limit=1.5', 'limit'], ['limit=', 'limit'], ['limit=-1', 'limit'], ['limit=1e2', 'limit']] as const) {
      const response = await app.request(`/api/contributors?${query}`);
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as ErrorBody).error, query).toMatchObject({ type: 'invalid_request_error', param, code: null });
    }
  });
});
