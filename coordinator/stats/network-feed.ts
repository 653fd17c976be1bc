/**
 * The network page's live feed (issue #7): samples the network into a NetworkHistory once per interval, on its own
 * timer, and hands each sample with what is true now (the tabs, the top contributors) to its subscribers (the
 * `/api/network/live` streams). What a tick costs: one pass over the ready tabs and the audit book's identities,
 * plus ranking the identities when anyone listens.
 */
import { NETWORK_TABS_LISTED, type NetworkHistoryEvent, type NetworkNow, type NetworkSampleEvent, type NetworkTab } from '../../src/protocol/network.ts';
import type { AuditBook } from '../trust/audit-book.ts';
import type { Tab, TabRegistry } from '../tabs/tab-registry.ts';
import type { NetworkHistory } from './network-history.ts';

export interface NetworkFeedDeps {
  history: NetworkHistory;
  registry: Pick<TabRegistry, 'ready'>;
  /** Requests waiting for any tab (the job board's). */
  waiting: () => number;
  book: Pick<AuditBook, 'ranked' | 'decidedTotals'>;
  /** Wall-clock ms: what the samples are stamped with. */
  clock: () => number;
  intervalMs: number;
  /** Contributors in `now.top` (default 10). */
  topLimit?: number;
  log?: (message: string) => void;
}

export type NetworkListener = (event: NetworkSampleEvent) => void;

const tabView = (t: Tab): NetworkTab => ({
  id: t.id,
  contributorId: t.contributorId,
  backend: t.backend,
  models: [...t.models],
  transport: t.link.kind,
  hidden: t.hidden,
  paused: t.contributorLimits.paused,
  runningJobs: t.runningJobs,
  tokensPerSecond: t.tokensPerSecond,
  jobsServed: t.jobsServed,
  tokensServed: t.tokensServed,
  reputation: t.reputation,
});

export class NetworkFeed {
  private readonly listeners = new Set<NetworkListener>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly deps: NetworkFeedDeps) {}

  /** Samples every `intervalMs` until stop(); the timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.deps.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Takes a sample and sends it to every subscriber. A subscriber that throws is dropped, the others still get it. */
  tick(): void {
    const { history, registry, waiting, book, clock } = this.deps;
    const sample = history.sample(clock(), { tabs: registry.ready(), waiting: waiting(), audits: book.decidedTotals() });
    if (this.listeners.size === 0) return;
    const event: NetworkSampleEvent = { sample, now: this.now() };
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.listeners.delete(listener);
        this.deps.log?.(`a network feed subscriber failed and was dropped: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /** Every sample kept, oldest first, and what is true now: the first event of every live connection. */
  snapshot(): NetworkHistoryEvent {
    return { intervalMs: this.deps.intervalMs, samples: this.deps.history.samples(), now: this.now() };
  }

  /** The busiest ready tabs (jobs held, then jobs served), how many are ready, and the top contributors by reputation. */
  now(): NetworkNow {
    const ready = this.deps.registry.ready();
    const busiest = ready.sort((a, b) => b.runningJobs - a.runningJobs || b.jobsServed - a.jobsServed || (a.id < b.id ? -1 : 1)).slice(0, NETWORK_TABS_LISTED);
    return { tabs: busiest.map(tabView), tabsReady: ready.length, top: this.deps.book.ranked(this.deps.topLimit ?? 10) };
  }

  /** Calls `listener` with each sample from now on; returns the unsubscribe (idempotent). */
  subscribe(listener: NetworkListener): () => void {
    // A function object per subscription: the same listener subscribed twice is two subscriptions.
    const entry: NetworkListener = (event) => listener(event);
    this.listeners.add(entry);
    return () => void this.listeners.delete(entry);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}
