/**
 * Jobs in flight: sends each task to the tab that should finish it first (tab-chooser.ts, scheduler.ts: model
 * residency, speed, queue, visibility), queued behind at most `jobsPerTab` − 1 others there (waiting a while for room
 * when every tab is full), routes the tab's tokens/done/failed messages to the job's consumer, and guarantees every
 * job ends exactly once (done, failed, cancelled, tab gone, or silent for too long) with the tab's load released.
 * Types: job-types.ts.
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
import { MAX_TAB_MESSAGE_CHARS, type TaskMessage } from '../../src/protocol/tab.ts';
import { restAfter } from '../schedule/contributor-limits.ts';
import { DEFAULT_SCHEDULER_MODEL, type JobNeeds } from '../schedule/scheduler.ts';
import type { Tab } from '../tabs/tab-registry.ts';
import { EventQueue } from './event-queue.ts';
import { resultMessage, transcriptOf } from '../../src/protocol/identity.ts';
import { sha256, verifyEd25519 } from '../identity/ed25519.ts';
import { contractViolation, type FromTab } from './job-contract.ts';
import { TabChooser } from './tab-chooser.ts';
import type { Counts, Job, JobBoardOptions, JobEvent, JobRequest, RunningJob, StartResult, Waiter } from './job-types.ts';

export type { Job, JobBoardOptions, JobEvent, JobFailureCode, JobRequest, StartFailure, StartResult } from './job-types.ts';

/**
 * The slowest a model load may go (download and engine start), in bytes/s: a tab may keep a job alive with `loading`
 * reports for the idle timeout plus the model's files at this rate (1 MB/s: 40 s more for a 40 MB model).
 */
const MIN_LOAD_BYTES_PER_SECOND = 1e6;

export function verifyResultSignature(tab: Tab, transcript: string, signature: string): boolean {
  return tab.publicKey !== null && verifyEd25519(tab.publicKey, resultMessage(sha256(transcript)), signature);
}

export class JobBoard {
  private readonly jobs = new Map<string, RunningJob>();
  /** Which tab takes a job, and each tab's queue: kept current on every change here and on tabChanged(). */
  private readonly tabs: TabChooser<RunningJob>;
  private readonly waiting: Waiter[] = [];
  /** Moving average of how long a job of each model takes, start to end (ms): the queue's Retry-After estimate. */
  private readonly jobMs = new Map<string, number>();
  private readonly now: () => number;
  private readonly log: (message: string) => void;

  constructor(private readonly options: JobBoardOptions) {
    this.now = options.now ?? (() => performance.now());
    this.log = options.log ?? (() => {});
    const model = { ...DEFAULT_SCHEDULER_MODEL, maxQueuePerTab: options.jobsPerTab ?? DEFAULT_SCHEDULER_MODEL.maxQueuePerTab };
    this.tabs = new TabChooser({ registry: options.registry, model, now: this.now, ...(options.modelSize ? { modelSize: options.modelSize } : {}), ...(options.eligible ? { eligible: options.eligible } : {}) });
  }

  /**
   * Something the scheduler weighs changed about the tab outside the board (it became ready; its models, cache,
   * calibration, visibility, limits or reputation): the board's view of it follows, and waiting requests may now go
   * to it. Call after every such change.
   */
  tabChanged(tab: Tab): void {
    this.tabs.refresh(tab);
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
    const needs = this.tabs.needsOf(task, counts);
    const tab = this.tabs.choose(needs);
    if (tab) return Promise.resolve({ ok: true, job: this.dispatch(task, tab, counts) });
    if (!this.tabs.anyCandidate(needs)) return Promise.resolve({ ok: false, reason: 'no_tab' });
    const { signal } = options;
    if (signal?.aborted) return Promise.resolve({ ok: false, reason: 'aborted' });
    const queued = this.waiting.filter((w) => w.needs.model === request.model).length;
    if (queued >= (this.options.maxWaitingPerModel ?? 64)) return Promise.resolve({ ok: false, reason: 'queue_full', retryAfterMs: this.retryAfterMs(request.model, queued, this.tabs.candidates(needs).length) });

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
      const tab = this.tabs.choose(waiter.needs, waiter.avoid);
      if (tab) waiter.assign(tab);
      else if (!this.tabs.anyCandidate(waiter.needs, waiter.avoid)) waiter.giveUp('no_tab');
    }
  }

  /** A model's load now: requests waiting for a tab, the tabs that may serve it, and how long its jobs usually take (ms). */
  load(model: string): { waiting: number; tabs: number; jobMs: number } {
    return { waiting: this.waiting.filter((w) => w.needs.model === model).length, tabs: this.tabs.candidates(this.tabs.needsOf({ model, params: { maxTokens: 0 } }, {})).length, jobMs: this.jobMs.get(model) ?? 5_000 };
  }

  /** When a place in the model's queue should be free: the jobs ahead, spread over its tabs, at their usual length. */
  private retryAfterMs(model: string, queued: number, tabs: number): number {
    const perJob = this.jobMs.get(model) ?? 5_000;
    return Math.min(60_000, Math.max(1_000, Math.ceil(((queued + 1) * perJob) / Math.max(1, tabs))));
  }

  /** The tab computed for `ms` on a job: it rests to keep to its contributor's share of time, then may take the next. */
  private rest(tab: Tab, ms: number): void {
    const restMs = restAfter(tab.contributorLimits.share, ms);
    if (restMs <= 0) return;
    tab.restUntil = this.now() + restMs;
    this.tabs.refresh(tab);
    setTimeout(() => this.tabChanged(tab), restMs).unref?.();
  }

  /** A job message from `tab`. Messages for jobs that already ended (e.g. cancelled) are dropped. */
  handle(tab: Tab, message: FromTab): void {
    const job = this.jobs.get(message.jobId);
    if (!job) return;
    if (job.hedge && (tab === job.hedge || tab === job.tab)) {
      // A racer whose first message breaks the contract loses the race (the other tab keeps the job) and is expelled.
      const broken = message.type === 'failed' ? null : this.firstMessageViolation(job, tab, message);
      if (message.type === 'failed' && message.code === 'model_not_loaded') this.loadFailed(tab, job.task.model, message.message);
      this.settleHedge(job, tab, message.type === 'failed' || broken !== null);
      if (broken) {
        this.log(`${tab.id}: protocol_error on ${job.id} while hedged: ${broken}; disconnecting the tab`);
        tab.ready = false;
        this.tabs.refresh(tab);
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
      this.options.onTokens?.(event.tokens.length);
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
      // The tab could not load the model: the job goes to another tab, and so do those queued behind it for it.
      this.loadFailed(tab, job.task.model, event.message);
      // Those queued first, while they have not started (moving the failed job would start the next).
      for (const queued of [...this.tabs.queues.of(tab)])
        if (queued !== job && queued.tab === tab && !queued.started && queued.task.model === job.task.model && this.failover(queued, 'could not load the model')) tab.link.send({ type: 'cancel', jobId: queued.id });
      if (this.failover(job, 'could not load the model')) {
        this.dispatchWaiting();
        this.afterwards(() => this.options.onTabFree?.(tab));
        return;
      }
    }
    this.finish(job, event);
  }

  /** The tab could not load `model`: it is not given it again until it reports holding it (`models`). */
  private loadFailed(tab: Tab, model: string, why: string): void {
    this.log(`${tab.id}: could not load ${model}: ${why}`);
    if (!tab.loadFailed.includes(model)) tab.loadFailed.push(model);
    this.tabs.refresh(tab);
  }

  /**
   * The tab is loading the job's model before running it: the job and those queued behind it are not idle, and the
   * job is not hedged for a late first token while the load goes on. Taken only from the tab running the job (first
   * in its queue), for a model not in its engine, and for at most the load's allowance (loadAllowanceMs) in all:
   * a tab cannot keep jobs alive with reports alone.
   */
  loading(tab: Tab, jobId: string): void {
    const job = this.jobs.get(jobId);
    if (!job || !job.assigned || job.tab !== tab || !this.tabs.queues.isFirst(tab, job) || tab.models.includes(job.task.model)) return;
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
    for (const job of [...this.tabs.queues.of(tab)]) {
      if (job.hedge === tab) tab.link.send(job.task);
      if (job.tab !== tab || !job.assigned) continue;
      this.log(`${tab.id}: ${job.id} continues on the WebSocket from token ${job.nextIndex}`);
      tab.link.send(job.nextIndex === 0 || job.task.prefix?.length === job.nextIndex ? job.task : { type: 'resume', jobId: job.id, from: job.nextIndex });
      this.touch(job);
    }
  }

  /** The tab disconnected: its jobs continue elsewhere (or fail); requests waiting for its model may have no tab left. */
  tabClosed(tab: Tab): void {
    this.tabs.forget(tab);
    // Its queue holds every job it ran, waited to run or raced as a hedge.
    for (const job of [...this.tabs.queues.of(tab)]) {
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
      // The tab the job is on now: a hedge that wins or a failover before the first token moves it.
      get tab() {
        const { id, backend, contributorId, link } = job.tab;
        return { id, backend, contributorId, transport: link.kind };
      },
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
    job.started = false;
    job.loadingSince = null;
    job.waiter = null;
    job.firstTokenAt = null;
    const first = this.tabs.enqueue(tab, job);
    tab.link.send(job.task);
    if (first) this.begin(job);
    else this.touch(job);
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
    const next = this.tabs.dequeue(tab, job);
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
    const needs = this.tabs.needsOf(continued, job.counts);
    if (!this.tabs.anyCandidate(needs, job.tried)) return false;
    this.release(job);
    if (counts) job.failovers++;
    job.task = continued;
    this.log(`${lost.id} ${why} during ${job.id}: it continues on another tab from token ${job.nextIndex}`);
    const tab = this.tabs.choose(needs, job.tried);
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
    const needs = this.tabs.needsOf(job.task, job.counts);
    const tab = this.tabs.choose(needs, new Set([...job.tried, job.tab.id]), true);
    if (!tab) return;
    this.log(`${job.id}: no first token from ${job.tab.id} after ${this.options.hedgeAfterMs} ms; hedging on ${tab.id}`);
    job.hedge = tab;
    this.tabs.enqueue(tab, job);
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
    // The winner's own loading reports count from its first: the allowance was the primary's.
    if (winner !== primary) job.loadingSince = null;
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
    this.tabs.refresh(tab);
    tab.link.send({ type: 'cancel', jobId: job.id });
    if (code === 'tab_timeout' && job.hedge) this.settleHedge(job, job.hedge, false);
    else if (code !== 'tab_timeout' || !this.failover(job, 'went silent')) this.finish(job, { type: 'failed', code, message });
    tab.link.close(code);
  }

  /** The tab sent a job message: it is alive, so none of its jobs (those queued behind the running one too) is idle. */
  private touchQueue(tab: Tab): void {
    for (const job of this.tabs.queues.of(tab)) this.touch(job);
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
      const ran = this.tabs.queues.isFirst(job.tab, job);
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
