import { afterEach, describe, expect, it, vi } from 'vitest';
import { RecordingLink } from '../../test/unit/tab-peer.ts';
import { NETWORK_TABS_LISTED, type NetworkSampleEvent } from '../../src/protocol/network.ts';
import { TabRegistry } from '../tabs/tab-registry.ts';
import { AuditBook } from '../trust/audit-book.ts';
import { NetworkFeed } from './network-feed.ts';
import { NetworkHistory } from './network-history.ts';

function feedOf(book = new AuditBook()) {
  let clock = 0;
  const registry = new TabRegistry();
  const feed = new NetworkFeed({ history: new NetworkHistory({ capacity: 5, startedAt: 0 }), registry, waiting: () => 3, book, clock: () => (clock += 1000), intervalMs: 1000, topLimit: 2, log: () => {} });
  return { feed, registry };
}

afterEach(() => vi.useRealTimers());

describe('NetworkFeed', () => {
  it('lists the busiest ready tabs, a bounded number, and says how many are ready', () => {
    const { feed, registry } = feedOf();
    const count = NETWORK_TABS_LISTED + 10;
    for (let i = 0; i < count; i++) Object.assign(registry.add(new RecordingLink()), { ready: true, runningJobs: i % 3, jobsServed: i });
    registry.add(new RecordingLink()); // not ready: neither listed nor counted
    const now = feed.now();
    expect(now.tabsReady).toBe(count);
    expect(now.tabs).toHaveLength(NETWORK_TABS_LISTED);
    const order = now.tabs.map((t) => [t.runningJobs, t.jobsServed]);
    expect(order).toEqual([...order].sort((x, y) => (y[0] as number) - (x[0] as number) || (y[1] as number) - (x[1] as number)));
    const busiest = Math.max(...Array.from({ length: count }, (_, i) => i).filter((i) => i % 3 === 2));
    expect(now.tabs[0]).toMatchObject({ runningJobs: 2, jobsServed: busiest });
  });

  it('samples on its timer until stopped', () => {
    vi.useFakeTimers();
    const { feed } = feedOf();
    feed.start();
    feed.start(); // one timer, however often started
    vi.advanceTimersByTime(3500);
    expect(feed.snapshot().samples.map((s) => s.at)).toEqual([1000, 2000, 3000]);
    feed.stop();
    vi.advanceTimersByTime(5000);
    expect(feed.snapshot().samples).toHaveLength(3);
  });

  it('lists the ready tabs as the page shows them, with the requests waiting in each sample', () => {
    const { feed, registry } = feedOf();
    const tab = registry.add(new RecordingLink());
    Object.assign(tab, { ready: true, contributorId: 'c1', backend: 'wasm', models: ['m'], hidden: true, contributorLimits: { paused: true, models: null, share: 1 } });
    registry.add(new RecordingLink());
    feed.tick();
    const { samples, now } = feed.snapshot();
    expect(samples[0]?.jobs.waiting).toBe(3);
    expect(now.tabs).toEqual([{ id: tab.id, contributorId: 'c1', backend: 'wasm', models: ['m'], transport: 'websocket', hidden: true, paused: true, runningJobs: 0, tokensPerSecond: null, jobsServed: 0, tokensServed: 0, reputation: 0.5 }]);
  });

  it('ranks contributors only when someone listens; a subscriber that throws is dropped and the others still hear', () => {
    const book = new AuditBook();
    const ranked = vi.spyOn(book, 'ranked');
    const { feed } = feedOf(book);
    feed.tick();
    expect(ranked).not.toHaveBeenCalled();
    const heard: NetworkSampleEvent[] = [];
    feed.subscribe(() => {
      throw new Error('broken client');
    });
    const unsubscribe = feed.subscribe((e) => heard.push(e));
    feed.subscribe((e) => heard.push(e));
    expect(feed.subscribers).toBe(3);
    feed.tick();
    expect(ranked).toHaveBeenCalledWith(2);
    expect(heard).toHaveLength(2);
    expect(feed.subscribers).toBe(2);
    unsubscribe();
    unsubscribe();
    expect(feed.subscribers).toBe(1);
  });
});
