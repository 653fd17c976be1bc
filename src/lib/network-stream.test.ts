import { describe, expect, it } from 'vitest';
import type { NetworkSample } from '../protocol/network.ts';
import { connectNetworkStream, type EventSourceLike, type StreamState } from './network-stream.ts';

class FakeSource implements EventSourceLike {
  readyState = 0;
  onerror: ((event: Event) => void) | null = null;
  closed = false;
  readonly listeners = new Map<string, (event: MessageEvent<string>) => void>();
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void {
    this.listeners.set(type, listener);
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
  emit(type: string, data: unknown): void {
    this.listeners.get(type)?.({ data: typeof data === 'string' ? data : JSON.stringify(data) } as MessageEvent<string>);
  }
  fail(readyState: number): void {
    this.readyState = readyState;
    this.onerror?.(new Event('error'));
  }
}

const sample = (at: number): NetworkSample => ({
  at,
  tabs: { total: 0, byBackend: {}, byModel: {} },
  jobs: { running: 0, queuedInTabs: 0, waiting: 0 },
  throughput: { tokensPerSecond: 0, jobsPerSecond: 0, failedPerSecond: 0 },
  totals: { tokens: 0, jobs: 0, failed: 0 },
  audits: { passed: 0, convicted: 0 },
});
const now = { tabs: [], tabsReady: 0, top: [] };

function harness() {
  const sources: FakeSource[] = [];
  const timers: Array<{ run: () => void; ms: number; cleared: boolean }> = [];
  const states: StreamState[] = [];
  const got: string[] = [];
  const stop = connectNetworkStream(
    { history: (e) => got.push(`history:${e.samples.length}`), sample: (e) => got.push(`sample:${e.sample.at}`), state: (s) => states.push(s) },
    {
      open: () => {
        const s = new FakeSource();
        sources.push(s);
        return s;
      },
      retryMs: 100,
      maxRetryMs: 250,
      setTimer: (run, ms) => {
        const t = { run, ms, cleared: false };
        timers.push(t);
        return t;
      },
      clearTimer: (t) => ((t as { cleared: boolean }).cleared = true),
    },
  );
  return { sources, timers, states, got, stop };
}

describe('connectNetworkStream', () => {
  it('hands on checked events and says when it is live', () => {
    const { sources, states, got } = harness();
    expect(states).toEqual(['connecting']);
    const s = sources[0] as FakeSource;
    s.emit('history', { intervalMs: 2000, samples: [sample(1)], now });
    s.emit('sample', { sample: sample(2), now });
    s.emit('sample', 'garbage');
    s.emit('sample', { sample: { at: 3 }, now });
    expect(got).toEqual(['history:1', 'sample:2']);
    expect(states).toEqual(['connecting', 'live']);
  });

  it('leaves a dropped stream to the browser, and opens a new one, later and later, when the browser gave up', () => {
    const { sources, timers, states } = harness();
    (sources[0] as FakeSource).fail(0); // CONNECTING: the browser retries
    expect(states.at(-1)).toBe('reconnecting');
    expect(timers).toHaveLength(0);
    (sources[0] as FakeSource).fail(2); // CLOSED: given up
    expect(sources[0]?.closed).toBe(true);
    expect(timers.map((t) => t.ms)).toEqual([100]);
    timers[0]?.run();
    expect(sources).toHaveLength(2);
    (sources[1] as FakeSource).fail(2);
    timers[1]?.run();
    (sources[2] as FakeSource).fail(2);
    timers[2]?.run();
    (sources[3] as FakeSource).fail(2);
    expect(timers.map((t) => t.ms)).toEqual([100, 200, 250, 250]);
    // A history on the new connection: live again, and the delay starts over.
    timers[3]?.run();
    (sources[4] as FakeSource).emit('history', { intervalMs: 2000, samples: [], now });
    expect(states.at(-1)).toBe('live');
    (sources[4] as FakeSource).fail(2);
    expect(timers.at(-1)?.ms).toBe(100);
  });

  it('stops: the stream closes, a pending reconnection is cancelled, late errors do nothing', () => {
    const { sources, timers, stop } = harness();
    (sources[0] as FakeSource).fail(2);
    stop();
    expect(timers[0]?.cleared).toBe(true);
    const h = harness();
    h.stop();
    expect(h.sources[0]?.closed).toBe(true);
    (h.sources[0] as FakeSource).fail(2);
    expect(h.timers).toHaveLength(0);
  });
});
