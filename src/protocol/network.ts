/**
 * The network page's feed (issue #7): `GET /api/network/live` (Server-Sent Events: one `history` event, then one
 * `sample` event per sampling interval), `GET /api/network/history` (the same history as JSON, for scripts) and
 * `GET /api/contributors?order=reputation&limit=N` (the top contributors). The page checks every event with these
 * schemas and drops what does not match. Errors use the API's one error shape (api.ts).
 */
import { z } from 'zod';

const count = z.number().int().nonnegative();
const rate = z.number().nonnegative();
/** Counts by a name: a tab's backend, a model of the operator's catalogue (zod drops a `__proto__` key). */
const counts = z.record(z.string(), count);

/** The network at one moment. Rates are over the interval since the sample before it. */
export const networkSampleSchema = z.object({
  /** Wall-clock time, ms since the epoch. */
  at: z.number(),
  /** Tabs ready to serve: all, by backend, and by model in their engine (a tab holding two models counts under each). */
  tabs: z.object({ total: count, byBackend: counts, byModel: counts }),
  /** Jobs the tabs' engines run now, jobs queued in tabs behind them, and requests waiting for any tab. */
  jobs: z.object({ running: count, queuedInTabs: count, waiting: count }),
  /**
   * Per second over the interval: completion tokens of the jobs that ended done, those jobs, and jobs that failed
   * (not counting those whose client hung up).
   */
  throughput: z.object({ tokensPerSecond: rate, jobsPerSecond: rate, failedPerSecond: rate }),
  /** Since the coordinator started: completion tokens and jobs done (what the rates add up to). */
  totals: z.object({ tokens: count, jobs: count, failed: count }),
  /** Decided audits of all time (they survive restarts): passed, and convictions. */
  audits: z.object({ passed: count, convicted: count }),
});
export type NetworkSample = z.infer<typeof networkSampleSchema>;

/** What the page lists of one tab ready to serve (its identity proven). */
export const networkTabSchema = z.object({
  id: z.string(),
  contributorId: z.string().nullable(),
  backend: z.string().nullable(),
  /** The models in its engine now. */
  models: z.array(z.string()),
  transport: z.string(),
  hidden: z.boolean(),
  paused: z.boolean(),
  /** Jobs assigned to it: the one it runs and those queued behind it. */
  runningJobs: count,
  tokensPerSecond: z.number().nullable(),
  jobsServed: count,
  tokensServed: count,
  reputation: z.number(),
});
export type NetworkTab = z.infer<typeof networkTabSchema>;

/** An identity's standing as a worker, for the top-contributors table. */
export const contributorRankSchema = z.object({
  contributorId: z.string(),
  /** In [0, 1], decayed (src/protocol/audits.ts ContributorTrust). */
  reputation: z.number(),
  audited: count,
  passed: count,
  convicted: count,
});
export type ContributorRank = z.infer<typeof contributorRankSchema>;

/** What is true now, sent with every event (not kept in the history). */
/** `tabs`: the busiest of the ready tabs (at most NETWORK_TABS_LISTED), of `tabsReady` in all. */
export const networkNowSchema = z.object({ tabs: z.array(networkTabSchema), tabsReady: count, top: z.array(contributorRankSchema) });
/** The most tabs a `now` lists: every live page receives it each interval, so its size must not grow with the fleet. */
export const NETWORK_TABS_LISTED = 50;
export type NetworkNow = z.infer<typeof networkNowSchema>;

/** `event: history`, first on every connection; also the body of GET /api/network/history. Samples oldest first. */
export const networkHistoryEventSchema = z.object({ intervalMs: z.number().positive(), samples: z.array(networkSampleSchema), now: networkNowSchema });
export type NetworkHistoryEvent = z.infer<typeof networkHistoryEventSchema>;

/** `event: sample`, each sampling interval after. */
export const networkSampleEventSchema = z.object({ sample: networkSampleSchema, now: networkNowSchema });
export type NetworkSampleEvent = z.infer<typeof networkSampleEventSchema>;

/** GET /api/contributors?order=reputation&limit=N: highest reputation first. */
export interface ContributorRanking {
  object: 'list';
  order: 'reputation';
  data: ContributorRank[];
}
