/**
 * The job board's types (job-board.ts): what a caller gives and gets (JobRequest, Job, JobEvent, StartResult,
 * JobBoardOptions), and what the board keeps of each job in flight (RunningJob) and each request waiting (Waiter).
 */
import type { PlainMessage } from '../../src/protocol/api.ts';
import type { SamplingParams, TaskFailureCode, TaskMessage } from '../../src/protocol/tab.ts';
import type { TranscriptToken } from '../../src/protocol/identity.ts';
import type { JobNeeds } from '../schedule/scheduler.ts';
import type { ModelSize } from '../schedule/tab-capabilities.ts';
import type { Tab, TabRegistry } from '../tabs/tab-registry.ts';
import type { EventQueue } from './event-queue.ts';
import type { StreamCheck } from './stream-check.ts';
import type { FromTab, Strip } from './job-contract.ts';

/** What the coordinator knows of a job's size, to check what the tab reports. */
export type Counts = Pick<JobRequest, 'promptTokens' | 'contextLength'>;
export type DoneFromTab = Strip<Extract<FromTab, { type: 'done' }>>;
/** Why a job failed: what the tab reported, or what the coordinator saw. */
export type JobFailureCode = TaskFailureCode | 'tab_disconnected' | 'client_closed_request' | 'protocol_error' | 'tab_timeout';
/** What a job's consumer sees. A `done` arrives only once its signature over the job's transcript verified. */
export type JobEvent = Strip<Extract<FromTab, { type: 'tokens' }>> | Omit<DoneFromTab, 'signature'> | { type: 'failed'; code: JobFailureCode; message: string };

export interface JobRequest {
  model: string;
  messages: PlainMessage[];
  params: SamplingParams;
  /** The templated prompt's token count as the coordinator counted it (it is billed): `done` must report the same. */
  promptTokens?: number;
  /** The model's context length: `done` cannot report more prompt and completion tokens than fit in it. */
  contextLength?: number;
}

export interface Job {
  id: string;
  /**
   * The tab serving the job now (its identity: null only before it proved one), and the link its task went out on.
   * Read it after the first event to name the tab that produced it: a hedge that wins or a failover moves the job.
   */
  readonly tab: Pick<Tab, 'id' | 'backend' | 'contributorId'> & { transport: Tab['link']['kind'] };
  /** Ends after a `done` or `failed` event. */
  events: AsyncIterable<JobEvent>;
  /**
   * Stops the job; the tab is told to stop. Idempotent. By default the client hung up (`client_closed_request`: it
   * pays for what it was sent); with `billed: false` the tokens were never delivered (`cancelled`: refunded).
   */
  cancel(reason: string, options?: { billed?: boolean }): void;
}

/**
 * Why a job could not start: no tab serves the model, all are busy past the wait, the model's queue is full, the
 * task is too big, or the caller gave up.
 */
export type StartFailure = 'no_tab' | 'busy' | 'queue_full' | 'too_large' | 'aborted';
/** With `queue_full`, `retryAfterMs` estimates when a place will be free. */
export type StartResult = { ok: true; job: Job } | { ok: false; reason: StartFailure; retryAfterMs?: number };

export interface RunningJob {
  id: string;
  /** The tab serving the job; while `assigned` is false (after a failover, waiting for a tab) the one it left. */
  tab: Tab;
  assigned: boolean;
  /** When its current tab started it: got it, or finished the job queued before it (the board's clock). */
  assignedAt: number;
  /** Its current tab started it (it is first in the tab's queue); false while queued behind another job there. */
  started: boolean;
  /** When its current tab first reported loading its model for it (null: no load reported). */
  loadingSince: number | null;
  /** The task as last sent: after a failover it carries the tokens streamed before as `prefix`. */
  task: TaskMessage;
  params: SamplingParams;
  /** The prompt's token count and the context length as the coordinator knows them. */
  counts: Counts;
  /** Every token streamed to the consumer, from whichever tab. */
  tokens: TranscriptToken[];
  queue: EventQueue<JobEvent>;
  /** Checks the streamed text against the token ids (stream-check.ts); null when the model's tokenizer is unknown. */
  check: StreamCheck | null;
  nextIndex: number;
  /** When the current tab's first token came (its decode speed is measured from there). */
  firstTokenAt: number | null;
  startedAt: number;
  timer: ReturnType<typeof setTimeout> | null;
  /** Tabs this job left (failover) or that lost a hedge race: it does not go back to them. */
  tried: Set<string>;
  failovers: number;
  /** A second tab running the same task until one of the two answers first (hedging). */
  hedge: Tab | null;
  hedgeTimer: ReturnType<typeof setTimeout> | null;
  /** While waiting for a tab after a failover. */
  waiter: Waiter | null;
}

/** A request, or a job after a failover, waiting for a free tab. */
export interface Waiter {
  /** What the scheduler weighs of the job, its model among it. */
  needs: JobNeeds;
  /** Tabs it must not be handed. */
  avoid: ReadonlySet<string>;
  assign(tab: Tab): void;
  /** No tab serves the model any more, the wait timed out, or the caller gave up. */
  giveUp(reason: 'no_tab' | 'busy' | 'aborted'): void;
}

export interface JobBoardOptions {
  registry: TabRegistry;
  /** A job whose tab sends nothing for this long fails with `tab_timeout`. */
  idleTimeoutMs: number;
  /**
   * How many jobs a tab holds at once: the one its engine runs and those queued behind it, so the next starts
   * without a round trip (default 2; 1: a tab gets a job only when idle). A tab keeping to a share of time below 1
   * takes one at a time, to rest between them.
   */
  jobsPerTab?: number;
  /** A model's size (catalogue), for the scheduler's memory test and load time; unknown: nothing to load or fit. */
  modelSize?: (model: string) => ModelSize | undefined;
  /** How long a request waits for a free tab when every tab serving its model is busy. */
  queueTimeoutMs?: number;
  /** Requests of one model that may wait at once (default 64); beyond that `start` answers `queue_full` at once. */
  maxWaitingPerModel?: number;
  now?: () => number;
  log?: (message: string) => void;
  /**
   * Whether `signature` is the tab's over `transcript` (identity.ts). Default: Ed25519 with the key the tab proved
   * at `hello`, over RESULT_CONTEXT + SHA-256(transcript).
   */
  verifyResult?: (tab: Tab, transcript: string, signature: string) => boolean;
  /** A checker of what the job streams against its token ids (stream-check.ts), or null to skip that check. */
  streamCheck?: (task: TaskMessage) => StreamCheck | null;
  /**
   * A job ended with a verified result signature, after its consumer got `done` (the requester never waits for
   * what follows, e.g. an audit). `tokens` and the ending are what the signature covers.
   */
  onCompleted?: (job: { tab: Tab; task: TaskMessage; tokens: ReadonlyArray<TranscriptToken>; end: Omit<DoneFromTab, 'type' | 'signature' | 'text'> }) => void;
  /** A job ended and its tab may take other work. */
  onTabFree?: (tab: Tab) => void;
  /**
   * Every job's end, once: its last event (a verified `done`, or `failed`), the tab that served it, how many tokens
   * it had streamed to the requester, and the prompt's token count as the coordinator counted it (billing).
   */
  /** Tokens a tab streamed for a job, as they arrive (the network page's throughput). Synchronous; keep it O(1). */
  onTokens?: (count: number) => void;
  onFinished?: (job: { id: string; tab: Tab; event: Extract<JobEvent, { type: 'done' | 'failed' }>; streamed: number; promptTokens: number | undefined }) => void;
  /**
   * Failover: how many times a job whose tab disconnected or went silent continues on another tab, from its next
   * token with the task's seed (default 2; 0: the job fails instead).
   */
  maxFailovers?: number;
  /**
   * Hedging: when a job's first token has not come this long after its task went out, the task also goes to a
   * second idle tab; the first of the two to answer keeps the job, the other is told to cancel and is not paid.
   * Absent or 0: no hedging.
   */
  hedgeAfterMs?: number;
  /** Whether the tab may take a job of the model (stake, reputation); default: every tab serving it. */
  eligible?: (tab: Tab, model: string) => boolean;
}
