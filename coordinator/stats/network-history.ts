/**
 * The network over time (issue #7), pure: a bounded ring of periodic samples (tabs by backend and model, jobs
 * running and queued, throughput, audits) and the tallies of jobs that ended since the last sample. The job board
 * reports each job's end (`jobEnded`, O(1)); whoever owns the clock calls `sample` once per interval.
 */
import type { NetworkSample } from '../../src/protocol/network.ts';

/** What the sampler reads of the network at a sample: its ready tabs, the requests waiting, audits decided. */
export interface NetworkReading {
  tabs: Iterable<{ backend: string | null; models: readonly string[]; runningJobs: number }>;
  waiting: number;
  audits: { passed: number; convicted: number };
}

export interface NetworkHistoryOptions {
  /** Samples kept; the oldest goes first. */
  capacity: number;
  /** When counting began (the first sample's rates are over the time since). */
  startedAt: number;
}

export class NetworkHistory {
  private readonly ring: Array<NetworkSample | undefined>;
  /** Where the next sample goes; the ring is full once `size` reaches capacity. */
  private next = 0;
  private size = 0;
  private lastAt: number;
  /** Since the last sample. */
  private interval = { tokens: 0, jobs: 0, failed: 0 };
  /** Since counting began. */
  private readonly totals = { tokens: 0, jobs: 0, failed: 0 };

  constructor(options: NetworkHistoryOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError(`capacity must be a positive integer, not ${options.capacity}`);
    this.ring = new Array<NetworkSample | undefined>(options.capacity);
    this.lastAt = options.startedAt;
  }

  /** Tabs streamed `count` tokens (counted as they come, so a long job spreads over the samples it spans). */
  tokensStreamed(count: number): void {
    const tokens = Number.isFinite(count) && count > 0 ? Math.floor(count) : 0;
    this.interval.tokens += tokens;
    this.totals.tokens += tokens;
  }

  /**
   * A job ended, after `streamed` of its tokens were counted as they came. Done counts as a job, and its tokens not
   * streamed (the end-of-sequence token, which usage counts and no delta carries) as tokens. A failure counts only when
   * the network failed it: a client that hung up, or a choice cancelled because its request's other choice failed
   * (that one is the failure), is no failure of the network.
   */
  jobEnded(event: { type: 'done'; completionTokens: number } | { type: 'failed'; code: string }, streamed: number): void {
    if (event.type === 'done') {
      this.interval.jobs++;
      this.totals.jobs++;
      this.tokensStreamed(event.completionTokens - streamed);
    } else if (event.code !== 'client_closed_request' && event.code !== 'cancelled') {
      this.interval.failed++;
      this.totals.failed++;
    }
  }

  /**
   * Takes a sample at `at` (ms) from `reading`, keeps it, and returns it. Rates are the tallies since the last
   * sample over the time since (a clock that did not move gives rates of 0, never Infinity or NaN).
   */
  sample(at: number, reading: NetworkReading): NetworkSample {
    const tabs = { total: 0, byBackend: counts(), byModel: counts() };
    const jobs = { running: 0, queuedInTabs: 0, waiting: Math.max(0, reading.waiting) };
    for (const tab of reading.tabs) {
      tabs.total++;
      bump(tabs.byBackend, tab.backend ?? 'unknown');
      for (const model of new Set(tab.models)) bump(tabs.byModel, model);
      if (tab.runningJobs > 0) {
        jobs.running++;
        jobs.queuedInTabs += tab.runningJobs - 1;
      }
    }
    const seconds = (at - this.lastAt) / 1000;
    const per = (n: number) => (seconds > 0 ? n / seconds : 0);
    const sample: NetworkSample = {
      at,
      tabs,
      jobs,
      throughput: { tokensPerSecond: per(this.interval.tokens), jobsPerSecond: per(this.interval.jobs), failedPerSecond: per(this.interval.failed) },
      totals: { ...this.totals },
      audits: { passed: reading.audits.passed, convicted: reading.audits.convicted },
    };
    this.interval = { tokens: 0, jobs: 0, failed: 0 };
    this.lastAt = at;
    this.ring[this.next] = sample;
    this.next = (this.next + 1) % this.ring.length;
    this.size = Math.min(this.size + 1, this.ring.length);
    return sample;
  }

  /** The samples kept, oldest first. */
  samples(): NetworkSample[] {
    const out: NetworkSample[] = [];
    const first = this.size < this.ring.length ? 0 : this.next;
    for (let i = 0; i < this.size; i++) {
      const s = this.ring[(first + i) % this.ring.length];
      if (s) out.push(s);
    }
    return out;
  }

  /** The latest sample, if any. */
  latest(): NetworkSample | undefined {
    return this.size === 0 ? undefined : this.ring[(this.next - 1 + this.ring.length) % this.ring.length];
  }
}

/** A record of counts by name with no prototype: a model named `__proto__` or `constructor` counts like any other. */
const counts = (): Record<string, number> => Object.create(null) as Record<string, number>;

function bump(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1;
}
