/**
 * Jobs in flight: sends each task to the tab that should finish it first (scheduler.ts: model residency, speed,
 * queue, visibility), queued behind at most `jobsPerTab` − 1 others there (waiting a while for room when every tab
 * is full), routes the tab's
 * tokens/done/failed messages to the job's consumer, and guarantees every job ends exactly once (done, failed,
 * cancelled, tab gone, or silent for too long) with the tab's load released.
 *
 * A job outlives its tab: when the tab disconnects or goes silent mid-stream, the job continues on another tab from
 * its next token (failover: the task again with the streamed tokens as `prefix`), so its consumer sees one unbroken
 * stream. A job whose first token is late may also be hedged on a second tab (the first to answer keeps it).
 *
 * Tabs are untrusted: a message that breaks the job's contract (tokens out of order or beyond max_tokens, more
 * alternatives than asked for, a usage count that cannot be right, a result signature that does not cover what
 * was streamed) fails the job and disconnects the tab, as does
 * a tab that goes silent mid-job; a disconnected tab reconnects with a fresh session.
 */
import { randomUUID } from 'node:crypto';
import type { PlainMessage } from '../../src/protocol/api.ts';
import { MAX_TAB_MESSAGE_CHARS, type SamplingParams, type TaskFailureCode, type TaskMessage } from '../../src/protocol/tab.ts';
import { restAfter } from '../schedule/contributor-limits.ts';
import { DEFAULT_SCHEDULER_MODEL, memoryFits, workTokens, type JobNeeds, type SchedulerModel, type TabCapabilities } from '../schedule/scheduler.ts';
import { FleetIndex } from '../schedule/fleet-index.ts';
import { capabilitiesOf, servableModels, type ModelSize } from '../schedule/tab-capabilities.ts';
import { TabQueues } from './tab-queues.ts';
import type { Tab, TabRegistry } from '../tabs/tab-registry.ts';
import { EventQueue } from './event-queue.ts';
import { resultMessage, transcriptOf, type TranscriptToken } from '../../src/protocol/identity.ts';
import { sha256, verifyEd25519 } from '../identity/ed25519.ts';
import type { StreamCheck } from './stream-check.ts';
import { contractViolation, type FromTab, type Strip } from './job-contract.ts';

/**
 * The slowest a model load may go (download and engine start), in bytes/s: a tab may keep a job alive with `loading`
 * reports for the idle timeout plus the model's files at this rate (1 MB/s: 40 s more for a 40 MB model).
 */
const MIN_LOAD_BYTES_PER_SECOND = 1e6;

/** What the coordinator knows of a job's size, to check what the tab reports. */
type Counts = Pick<JobRequest, 'promptTokens' | 'contextLength'>;
type DoneFromTab = Strip<Extract<FromTab, { type: 'done' }>>;
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
  /** The tab serving the job, and the link its task went out on. */
  tab: Pick<Tab, 'id' | 'backend'> & { transport: Tab['link']['kind'] };
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

interface RunningJob {
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
interface Waiter {
  model: string;
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

export function verifyResultSignature(tab: Tab, transcript: string, signature: string): boolean {
  return tab.publicKey !== null && verifyEd25519(tab.publicKey, resultMessage(sha256(transcript)), signature);
}

export class JobBoard {
  private readonly jobs = new Map<string, RunningJob>();
  private readonly queues = new TabQueues<RunningJob>();
  /**
   * The ready tabs as the scheduler sees them (FleetIndex: chooseTab's choice without scanning every tab), kept
   * current by refresh(): on every change of a tab's queue, speed or rest here, and on tabChanged() for the rest.
   */
  private readonly index: FleetIndex<TabCapabilities & { source: Tab }>;
  private readonly waiting: Waiter[] = [];
  private readonly schedulerModel: SchedulerModel;
  /** Moving average of how long a job of each model takes, start to end (ms): the queue's Retry-After estimate. */
  private readonly jobMs = new Map<string, number>();
  private readonly now: () => number;
  private readonly log: (message: string) => void;

  constructor(private readonly options: JobBoardOptions) {
    this.now = options.now ?? (() => performance.now());
    this.log = options.log ?? (() => {});
    this.schedulerModel = { ...DEFAULT_SCHEDULER_MODEL, maxQueuePerTab: options.jobsPerTab ?? DEFAULT_SCHEDULER_MODEL.maxQueuePerTab };
    this.index = new FleetIndex(this.schedulerModel);
  }

  /**
   * Something the scheduler weighs changed about the tab outside the board (it became ready; its models, cache,
   * calibration, visibility, limits or reputation): the board's view of it follows, and waiting requests may now go
   * to it. Call after every such change.
   */
  tabChanged(tab: Tab): void {
    this.refresh(tab);
    this.dispatchWaiting();
  }

  get size(): number {
    return this.jobs.size;
  }

  /** Whether the job is in flight here. */
  running(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Starts a job on a free tab serving the model, waiting up to `queueTimeoutMs` for one when all are busy. */
  start(request: JobRequest, options: { id?: string; signal?: AbortSignal } = {}): Promise<StartResult> {
    const { promptTokens, contextLength, ...taskFields } = request;
    const counts: Counts = { promptTokens, contextLength };
    const task: TaskMessage = { type: 'task', jobId: options.id ?? `chatcmpl-${randomUUID().replaceAll('-', '')}`, ...taskFields };
    if (JSON.stringify(task).length > MAX_TAB_MESSAGE_CHARS) return Promise.resolve({ ok: false, reason: 'too_large' });
    const needs = this.needsOf(task, counts);
    const tab = this.choose(needs);
    if (tab) return Promise.resolve({ ok: true, job: this.dispatch(task, tab, counts) });
    if (!this.anyCandidate(needs)) return Promise.resolve({ ok: false, reason: 'no_tab' });
    const { signal } = options;
    if (signal?.aborted) return Promise.resolve({ ok: false, reason: 'aborted' });
    const queued = this.waiting.filter((w) => w.model === request.model).length;
    if (queued >= (this.options.maxWaitingPerModel ?? 64)) return Promise.resolve({ ok: false, reason: 'queue_full', retryAfterMs: this.retryAfterMs(request.model, queued, this.candidates(needs).length) });

    return new Promise<StartResult>((resolve) => {
      const onAbort = () => waiter.giveUp('aborted');
      const waiter = this.wait(
        needs,
        new Set(),
        'back',
        (tab) => {
          signal?.removeEventListener('abort', onAbort);
          resolve({ ok: true, job: this.dispatch(task, tab, counts) });
        },
        (reason) => {
          signal?.removeEventListener('abort', onAbort);
          resolve({ ok: false, reason });
        },
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Queues a waiter for a free tab of `model` that is not in `avoid` (at the back; at the front for a job that
   * already streamed), for at most `queueTimeoutMs`. Exactly one of `onTab` and `onGiveUp` is called, once.
   */
  private wait(needs: JobNeeds, avoid: ReadonlySet<string>, where: 'front' | 'back', onTab: (tab: Tab) => void, onGiveUp: (reason: 'no_tab' | 'busy' | 'aborted') => void): Waiter {
    const leave = () => {
      clearTimeout(timer);
      const at = this.waiting.indexOf(waiter);
      if (at < 0) return false;
      this.waiting.splice(at, 1);
      return true;
    };
    const waiter: Waiter = {
      model: needs.model,
      needs,
      avoid,
      assign: (tab) => leave() && onTab(tab),
      giveUp: (reason) => leave() && onGiveUp(reason),
    };
    const timer = setTimeout(() => waiter.giveUp('busy'), this.options.queueTimeoutMs ?? 30_000);
    timer.unref?.();
    if (where === 'front') this.waiting.unshift(waiter);
    else this.waiting.push(waiter);
    return waiter;
  }

  /** A tab became free or changed what it serves: hand it the oldest waiting request it can take. */
  dispatchWaiting(): void {
    for (const waiter of [...this.waiting]) {
      const tab = this.choose(waiter.needs, waiter.avoid);
      if (tab) waiter.assign(tab);
      else if (!this.anyCandidate(waiter.needs, waiter.avoid)) waiter.giveUp('no_tab');
    }
  }

  /** A model's load now: requests waiting for a tab, the tabs that may serve it, and how long its jobs usually take (ms). */
  load(model: string): { waiting: number; tabs: number; jobMs: number } {
    return { waiting: this.waiting.filter((w) => w.model === model).length, tabs: this.candidates(this.needsOf({ model, params: { maxTokens: 0 } }, {})).length, jobMs: this.jobMs.get(model) ?? 5_000 };
  }

  /** When a place in the model's queue should be free: the jobs ahead, spread over its tabs, at their usual length. */
  private retryAfterMs(model: string, queued: number, tabs: number): number {
    const perJob = this.jobMs.get(model) ?? 5_000;
    return Math.min(60_000, Math.max(1_000, Math.ceil(((queued + 1) * perJob) / Math.max(1, tabs))));
  }

  /** What the scheduler weighs of a task: its model's size and the work left (after any prefix, which is prompt now). */
  private needsOf(task: Pick<TaskMessage, 'model' | 'prefix'> & { params: Pick<SamplingParams, 'maxTokens'> }, counts: Counts): JobNeeds {
    const size = this.options.modelSize?.(task.model);
    const prefix = task.prefix?.length ?? 0;
    return { model: task.model, modelBytes: size?.modelBytes ?? 0, largestTensorBytes: size?.largestTensorBytes ?? 0, promptTokens: (counts.promptTokens ?? 0) + prefix, maxTokens: Math.max(0, task.params.maxTokens - prefix) };
  }

  /**
   * Whether the tab may take the job at all, busy or not: ready, not paused, the model among those it serves
   * (servableModels: loaded, or listed by the contributor to load on demand), held by its memory, and `eligible`
   * (stake).
   */
  private isCandidate(t: Tab, needs: JobNeeds, avoid?: ReadonlySet<string>): boolean {
    const eligible = this.options.eligible;
    return t.ready && !t.contributorLimits.paused && !avoid?.has(t.id) && servableModels(t).includes(needs.model) && memoryFits(capabilitiesOf(t, []), needs, this.schedulerModel) && (!eligible || eligible(t, needs.model));
  }

  private candidates(needs: JobNeeds, avoid?: ReadonlySet<string>): Tab[] {
    return this.options.registry.ready().filter((t) => this.isCandidate(t, needs, avoid));
  }

  /** Whether any tab may take the job, now or once it has room (stops at the first). */
  private anyCandidate(needs: JobNeeds, avoid?: ReadonlySet<string>): boolean {
    return this.options.registry.some((t) => this.isCandidate(t, needs, avoid));
  }

  /**
   * The tab that should finish the job first (the scheduler's choice over the index), other than those in `avoid`,
   * only an idle one with `idleOnly`; null when none has room now.
   */
  private choose(needs: JobNeeds, avoid?: ReadonlySet<string>, idleOnly = false): Tab | null {
    const eligible = this.options.eligible;
    const fit = (view: { id: string; source: Tab }) => !avoid?.has(view.id) && (!idleOnly || view.source.runningJobs === 0) && (!eligible || eligible(view.source, needs.model));
    return this.index.choose(needs, fit)?.tab.source ?? null;
  }

  /**
   * Brings the tab's row in the index up to date: its capabilities and queue (the running job's work as of its last
   * queue change: it is not refreshed per token, so its ETA errs long). A tab resting to keep to its share of time,
   * or below a full share with a job, is in it as paused; a tab not ready, or gone, leaves it.
   */
  private refresh(tab: Tab): void {
    if (!tab.ready || this.options.registry.get(tab.id) !== tab) {
      this.index.delete(tab.id);
      return;
    }
    const view = capabilitiesOf(tab, this.workOf(tab));
    const resting = tab.restUntil > this.now() || (tab.contributorLimits.share < 1 && tab.runningJobs > 0);
    this.index.set({ ...view, paused: view.paused || resting, source: tab });
  }

  /** The tab's queue as the scheduler weighs it: each job's work left in decode-token equivalents, its model's size. */
  private workOf(tab: Tab): Array<{ model: string; remainingTokens: number; modelBytes?: number }> {
    return this.queues.of(tab).map((job) => {
      const needs = this.needsOf(job.task, job.counts);
      const streamed = job.tab === tab && this.queues.isFirst(tab, job) ? job.nextIndex - (job.task.prefix?.length ?? 0) : 0;
      return { model: needs.model, remainingTokens: Math.max(0, workTokens(needs, this.schedulerModel) - streamed), modelBytes: needs.modelBytes };
    });
  }

  /** The tab computed for `ms` on a job: it rests to keep to its contributor's share of time, then may take the next. */
  private rest(tab: Tab, ms: number): void {
    const restMs = restAfter(tab.contributorLimits.share, ms);
    if (restMs <= 0) return;
    tab.restUntil = this.now() + restMs;
    this.refresh(tab);
    setTimeout(() => this.tabChanged(tab), restMs).unref?.();
  }

  /** A job message from `tab`. Messages for jobs that already ended (e.g. cancelled) are dropped. */
  handle(tab: Tab, message: FromTab): void {
    const job = this.jobs.get(message.jobId);
    if (!job) return;
    if (job.hedge && (tab === job.hedge || tab === job.tab)) {
      // A racer whose first message breaks the contract loses the race (the other tab keeps the job) and is expelled.
      const broken = message.type === 'failed' ? null : this.firstMessageViolation(job, tab, message);
      this.settleHedge(job, tab, message.type === 'failed' || broken !== null);
      if (broken) {
        this.log(`${tab.id}: protocol_error on ${job.id} while hedged: ${broken}; disconnecting the tab`);
        tab.ready = false;
        this.refresh(tab);
        tab.link.close('protocol_error');
        return;
      }
    }
    if (job.tab !== tab || !job.assigned) {
      if (!job.tried.has(tab.id)) this.log(`${tab.id} sent ${message.type} for ${message.jobId}, which belongs to ${job.tab.id}; dropped`);
      return;
    }
    const { jobId: _jobId, ...event } = message;
    const violation = contractViolation(job, event);
    if (violation) return this.expel(job, 'protocol_error', violation);
    if (event.type === 'tokens') {
      job.nextIndex += event.tokens.length;
      for (const t of event.tokens) job.tokens.push({ id: t.token.id, logprob: t.token.logprob, top: t.top.map((a) => ({ id: a.id, logprob: a.logprob })) });
      job.firstTokenAt ??= this.now();
      this.touchQueue(tab);
      job.queue.push(event);
      return;
    }
    if (event.type === 'done') {
      const { signature, ...done } = event;
      const verify = this.options.verifyResult ?? verifyResultSignature;
      // The signature covers the task as this tab got it and the tokens it streamed (after any prefix).
      const own = job.tokens.slice(job.task.prefix?.length ?? 0);
      if (!verify(tab, transcriptOf(job.task, own, done), signature)) return this.expel(job, 'protocol_error', 'the result signature does not match the transcript of the job');
      const seconds = job.firstTokenAt === null ? 0 : (this.now() - job.firstTokenAt) / 1000;
      this.options.registry.recordJob(tab, job.task.model, own.length, seconds);
      this.finish(job, done);
      const { finishReason, promptTokens, completionTokens } = done;
      // What the signature covers: a continued job's audit judges this tab's tokens after the prefix it was given.
      return this.afterwards(() => this.options.onCompleted?.({ tab, task: job.task, tokens: own, end: { finishReason, promptTokens, completionTokens } }));
    }
    if (event.code === 'model_not_loaded' && job.nextIndex === (job.task.prefix?.length ?? 0)) {
      // The tab could not load the model: it is not given it again this session, and the job goes to another tab.
      if (!tab.loadFailed.includes(job.task.model)) tab.loadFailed.push(job.task.model);
      this.refresh(tab);
      this.log(`${tab.id}: could not load ${job.task.model}: ${event.message}`);
      if (this.failover(job, 'could not load the model')) return;
    }
    this.finish(job, event);
  }

  /**
   * The tab is loading the job's model before running it: the job and those queued behind it are not idle, and the
   * job is not hedged for a late first token while the load goes on. Taken only from the tab running the job (first
   * in its queue), for a model not in its engine, and for at most the load's allowance (loadAllowanceMs) in all:
   * a tab cannot keep jobs alive with reports alone.
   */
  loading(tab: Tab, jobId: string): void {
    const job = this.jobs.get(jobId);
    if (!job || !job.assigned || job.tab !== tab || !this.queues.isFirst(tab, job) || tab.models.includes(job.task.model)) return;
    const now = this.now();
    job.loadingSince ??= now;
    if (now - job.loadingSince > this.loadAllowanceMs(job.task.model)) return;
    this.touchQueue(tab);
    this.armHedge(job);
  }

  /** How long a tab may report loading a model: the idle timeout, plus its files at MIN_LOAD_BYTES_PER_SECOND. */
  private loadAllowanceMs(model: string): number {
    return this.options.idleTimeoutMs + ((this.options.modelSize?.(model)?.modelBytes ?? 0) * 1000) / MIN_LOAD_BYTES_PER_SECOND;
  }

  /** What is wrong with a hedged job's first message from one of its two tabs (no token has come yet), or null. */
  private firstMessageViolation(job: RunningJob, tab: Tab, message: Exclude<FromTab, { type: 'failed' }>): string | null {
    const { jobId: _jobId, ...event } = message;
    const violation = contractViolation(job, event);
    if (violation || event.type !== 'done') return violation;
    const { signature, ...done } = event;
    const verify = this.options.verifyResult ?? verifyResultSignature;
    return verify(tab, transcriptOf(job.task, [], done), signature) ? null : 'the result signature does not match the transcript of the job';
  }

  /**
   * The tab's data channel closed and its link is the WebSocket again: each of its jobs continues from where the
   * coordinator is — `resume` from the next token index, or the task again when no token arrived (the task itself
   * may have been lost). The tab held the job's messages since the channel closed, so none is lost or repeated.
   */
  dataChannelLost(tab: Tab): void {
    // In the tab's queue order: the tab runs its tasks in the order they arrive.
    for (const job of [...this.queues.of(tab)]) {
      if (job.hedge === tab) tab.link.send(job.task);
      if (job.tab !== tab || !job.assigned) continue;
      this.log(`${tab.id}: ${job.id} continues on the WebSocket from token ${job.nextIndex}`);
      tab.link.send(job.nextIndex === 0 || job.task.prefix?.length === job.nextIndex ? job.task : { type: 'resume', jobId: job.id, from: job.nextIndex });
      this.touch(job);
    }
  }

  /** The tab disconnected: its jobs continue elsewhere (or fail); requests waiting for its model may have no tab left. */
  tabClosed(tab: Tab): void {
    this.index.delete(tab.id);
    for (const job of [...this.jobs.values()]) {
      if (job.hedge === tab) this.dropHedge(job, false);
      if (job.tab !== tab || !job.assigned) continue;
      if (job.hedge) this.settleHedge(job, job.hedge, false);
      else if (!this.failover(job, 'disconnected')) this.finish(job, { type: 'failed', code: 'tab_disconnected', message: 'the contributor tab disconnected' });
    }
    this.dispatchWaiting();
  }

  private dispatch(task: TaskMessage, tab: Tab, counts: Counts): Job {
    const job: RunningJob = { id: task.jobId, tab, assigned: false, assignedAt: 0, started: false, loadingSince: null, task, params: task.params, counts, tokens: [], queue: new EventQueue(), check: this.options.streamCheck?.(task) ?? null, nextIndex: 0, firstTokenAt: null, startedAt: this.now(), timer: null, tried: new Set(), failovers: 0, hedge: null, hedgeTimer: null, waiter: null };
    this.jobs.set(job.id, job);
    this.assign(job, tab);
    return {
      id: job.id,
      tab: { id: tab.id, backend: tab.backend, transport: tab.link.kind },
      events: job.queue,
      cancel: (reason, options) => {
        if (!this.jobs.has(job.id)) return;
        if (job.assigned) job.tab.link.send({ type: 'cancel', jobId: job.id });
        this.finish(job, { type: 'failed', code: options?.billed === false ? 'cancelled' : 'client_closed_request', message: reason });
      },
    };
  }

  /** Sends the job's task to `tab`, which now serves it: at once, or after the jobs queued there before it. */
  private assign(job: RunningJob, tab: Tab): void {
    job.tab = tab;
    job.assigned = true;
    job.assignedAt = this.now();
    job.started = false;
    job.loadingSince = null;
    job.waiter = null;
    job.firstTokenAt = null;
    const first = this.queues.add(tab, job);
    this.refresh(tab);
    this.touch(job);
    tab.link.send(job.task);
    if (first) this.begin(job);
  }

  /**
   * The job's tab starts it (it got the job idle, or finished those before it): its compute time counts from now,
   * and so does the wait for its first token before it is hedged.
   */
  private begin(job: RunningJob): void {
    job.assignedAt = this.now();
    job.started = true;
    this.touch(job);
    this.armHedge(job);
  }

  /** (Re)starts the wait for the job's first token before it is hedged, if it may be hedged. */
  private armHedge(job: RunningJob): void {
    const hedgeAfterMs = this.options.hedgeAfterMs ?? 0;
    if (hedgeAfterMs <= 0 || job.nextIndex !== 0 || job.hedge) return;
    if (job.hedgeTimer) clearTimeout(job.hedgeTimer);
    job.hedgeTimer = setTimeout(() => this.startHedge(job), hedgeAfterMs);
    job.hedgeTimer.unref?.();
  }

  /** The job leaves the tab's queue; the job behind it, if it was first, starts (unless the tab is leaving). */
  private unqueue(tab: Tab, job: RunningJob): void {
    const next = this.queues.remove(tab, job);
    this.refresh(tab);
    if (next && next.tab === tab && next.assigned && tab.ready && this.options.registry.get(tab.id) === tab) this.begin(next);
  }

  /** The job's tab left or went silent: it goes on from its next token on another tab. False when it cannot. */
  private failover(job: RunningJob, why: string): boolean {
    const lost = job.tab;
    job.tried.add(lost.id);
    // A job still queued behind another on the tab never started there: moving it is no failover.
    const counts = job.started;
    // A job that streamed all max_tokens and lost only its `done` continues too: the new tab ends it at once.
    if ((counts && job.failovers >= (this.options.maxFailovers ?? 2)) || job.nextIndex > job.params.maxTokens) return false;
    const continued = job.nextIndex > 0 ? { ...job.task, prefix: job.tokens.map((t) => t.id) } : job.task;
    const needs = this.needsOf(continued, job.counts);
    if (!this.anyCandidate(needs, job.tried)) return false;
    this.release(job);
    if (counts) job.failovers++;
    job.task = continued;
    this.log(`${lost.id} ${why} during ${job.id}: it continues on another tab from token ${job.nextIndex}`);
    const tab = this.choose(needs, job.tried);
    if (tab) this.assign(job, tab);
    else
      job.waiter = this.wait(
        needs,
        job.tried,
        'front',
        (next) => this.assign(job, next),
        () => this.finish(job, { type: 'failed', code: 'tab_disconnected', message: 'the contributor tab left mid-job and no other tab took the job over in time' }),
      );
    return true;
  }

  /** Past hedgeAfterMs without a first token: the task also goes to the best idle tab, if there is one. */
  private startHedge(job: RunningJob): void {
    job.hedgeTimer = null;
    if (!this.jobs.has(job.id) || !job.assigned || job.nextIndex > 0 || job.hedge) return;
    const needs = this.needsOf(job.task, job.counts);
    const tab = this.choose(needs, new Set([...job.tried, job.tab.id]), true);
    if (!tab) return;
    this.log(`${job.id}: no first token from ${job.tab.id} after ${this.options.hedgeAfterMs} ms; hedging on ${tab.id}`);
    job.hedge = tab;
    this.queues.add(tab, job);
    this.refresh(tab);
    tab.link.send(job.task);
  }

  /**
   * A hedged job's race is decided: `spoke` sent the first message (or, with `failed`, reported a failure, so the
   * other tab wins). The winner keeps the job; the loser is told to cancel, is not paid, and gets other work.
   */
  private settleHedge(job: RunningJob, spoke: Tab, failed: boolean): void {
    const hedge = job.hedge;
    if (!hedge) return;
    const primary = job.tab;
    const winner = failed === (spoke === hedge) ? primary : hedge;
    const loser = winner === hedge ? primary : hedge;
    job.hedge = null;
    job.tried.add(loser.id);
    this.unqueue(loser, job);
    loser.link.send({ type: 'cancel', jobId: job.id });
    job.tab = winner;
    this.touch(job);
    this.log(`${job.id}: ${winner.id} won the hedge over ${loser.id}`);
    this.dispatchWaiting();
    this.afterwards(() => this.options.onTabFree?.(loser));
  }

  /** The hedge stops: the job ended, or the hedge tab left (`cancel` false: nothing to tell it). */
  private dropHedge(job: RunningJob, cancel: boolean): void {
    const hedge = job.hedge;
    if (!hedge) return;
    job.hedge = null;
    job.tried.add(hedge.id);
    this.unqueue(hedge, job);
    if (!cancel) return;
    hedge.link.send({ type: 'cancel', jobId: job.id });
    this.afterwards(() => this.options.onTabFree?.(hedge));
  }

  /** Fails the job and disconnects its tab, which broke the protocol; a silent tab's job fails over first. */
  private expel(job: RunningJob, code: 'protocol_error' | 'tab_timeout', message: string): void {
    const tab = job.tab;
    this.log(`${tab.id}: ${code} on ${job.id}: ${message}; disconnecting the tab`);
    tab.ready = false; // no new work while it closes
    this.refresh(tab);
    tab.link.send({ type: 'cancel', jobId: job.id });
    if (code === 'tab_timeout' && job.hedge) this.settleHedge(job, job.hedge, false);
    else if (code !== 'tab_timeout' || !this.failover(job, 'went silent')) this.finish(job, { type: 'failed', code, message });
    tab.link.close(code);
  }

  /** The tab sent a job message: it is alive, so none of its jobs (those queued behind the running one too) is idle. */
  private touchQueue(tab: Tab): void {
    for (const job of this.queues.of(tab)) this.touch(job);
  }

  private touch(job: RunningJob): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(() => this.expel(job, 'tab_timeout', `the contributor tab sent nothing for ${this.options.idleTimeoutMs} ms`), this.options.idleTimeoutMs);
    job.timer.unref?.();
  }

  /** The job's tab no longer serves it: its load, its idle timer and any hedge go. */
  private release(job: RunningJob): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    if (job.hedgeTimer) clearTimeout(job.hedgeTimer);
    job.hedgeTimer = null;
    this.dropHedge(job, true);
    if (job.assigned) {
      const ran = this.queues.isFirst(job.tab, job);
      this.unqueue(job.tab, job);
      if (ran) this.rest(job.tab, this.now() - job.assignedAt);
    }
    job.assigned = false;
  }

  private finish(job: RunningJob, event: JobEvent): void {
    if (!this.jobs.delete(job.id)) return;
    if (event.type === 'done') {
      const took = this.now() - job.startedAt;
      const average = this.jobMs.get(job.task.model);
      this.jobMs.set(job.task.model, average === undefined ? took : 0.8 * average + 0.2 * took);
    }
    const wasAssigned = job.assigned;
    this.release(job);
    job.waiter?.giveUp('aborted');
    job.queue.push(event);
    job.queue.close();
    if (event.type !== 'tokens') this.afterwards(() => this.options.onFinished?.({ id: job.id, tab: job.tab, event, streamed: job.nextIndex, promptTokens: job.counts.promptTokens }));
    this.dispatchWaiting();
    if (wasAssigned) this.afterwards(() => this.options.onTabFree?.(job.tab));
  }

  /** Runs a listener's reaction to a job's end; whatever it throws must not break the board. */
  private afterwards(listener: () => void): void {
    try {
      listener();
    } catch (error) {
      this.log(`a job listener failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
}
