/**
 * Jobs in flight: sends each task to a free tab (waiting a while for one when all are busy), routes the tab's
 * tokens/done/failed messages to the job's consumer, and guarantees every job ends exactly once (done, failed,
 * cancelled, tab gone, or silent for too long) with the tab's load released.
 *
 * Tabs are untrusted: a message that breaks the job's contract (tokens out of order or beyond max_tokens, more
 * alternatives than asked for, a usage count that cannot be right, a result signature that does not cover what
 * was streamed) fails the job and disconnects the tab, as does
 * a tab that goes silent mid-job; a disconnected tab reconnects with a fresh session.
 */
import { randomUUID } from 'node:crypto';
import type { PlainMessage } from '../../src/protocol/api.ts';
import { MAX_TAB_MESSAGE_CHARS, type SamplingParams, type TabToCoordinator, type TaskFailureCode, type TaskMessage } from '../../src/protocol/tab.ts';
import { pickTab, servesModel } from '../schedule/pick-tab.ts';
import type { Tab, TabRegistry } from '../tabs/tab-registry.ts';
import { EventQueue } from './event-queue.ts';
import { resultMessage, transcriptOf, type TranscriptToken } from '../../src/protocol/identity.ts';
import { sha256, verifyEd25519 } from '../identity/ed25519.ts';
import type { StreamCheck } from './stream-check.ts';

/** What the coordinator knows of a job's size, to check what the tab reports. */
type Counts = Pick<JobRequest, 'promptTokens' | 'contextLength'>;
type Strip<T> = T extends { jobId: string } ? Omit<T, 'jobId'> : never;
type FromTab = Extract<TabToCoordinator, { type: 'tokens' | 'done' | 'failed' }>;
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
  /** Stops the job (e.g. the client hung up); the tab is told to stop. Idempotent. */
  cancel(reason: string): void;
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
  tab: Tab;
  task: TaskMessage;
  params: SamplingParams;
  /** The prompt's token count and the context length as the coordinator knows them. */
  counts: Counts;
  /** What the tab streamed, for the transcript its result signature covers. */
  tokens: TranscriptToken[];
  queue: EventQueue<JobEvent>;
  /** Checks the streamed text against the token ids (stream-check.ts); null when the model's tokenizer is unknown. */
  check: StreamCheck | null;
  nextIndex: number;
  firstTokenAt: number | null;
  startedAt: number;
  timer: ReturnType<typeof setTimeout> | null;
}

interface Waiter {
  task: TaskMessage;
  counts: Counts;
  settle: (result: StartResult) => void;
}

export interface JobBoardOptions {
  registry: TabRegistry;
  /** A job whose tab sends nothing for this long fails with `tab_timeout`. */
  idleTimeoutMs: number;
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
  /** Whether the tab may take a job of the model (stake, reputation); default: every tab serving it. */
  eligible?: (tab: Tab, model: string) => boolean;
}

export function verifyResultSignature(tab: Tab, transcript: string, signature: string): boolean {
  return tab.publicKey !== null && verifyEd25519(tab.publicKey, resultMessage(sha256(transcript)), signature);
}

export class JobBoard {
  private readonly jobs = new Map<string, RunningJob>();
  private readonly waiting: Waiter[] = [];
  /** Moving average of how long a job of each model takes, start to end (ms): the queue's Retry-After estimate. */
  private readonly jobMs = new Map<string, number>();
  private readonly now: () => number;
  private readonly log: (message: string) => void;

  constructor(private readonly options: JobBoardOptions) {
    this.now = options.now ?? (() => performance.now());
    this.log = options.log ?? (() => {});
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
    const tabs = this.candidates(request.model);
    if (tabs.length === 0) return Promise.resolve({ ok: false, reason: 'no_tab' });
    const tab = pickTab(tabs, request.model);
    if (tab) return Promise.resolve({ ok: true, job: this.dispatch(task, tab, counts) });
    const { signal } = options;
    if (signal?.aborted) return Promise.resolve({ ok: false, reason: 'aborted' });
    const queued = this.waiting.filter((w) => w.task.model === request.model).length;
    if (queued >= (this.options.maxWaitingPerModel ?? 64)) return Promise.resolve({ ok: false, reason: 'queue_full', retryAfterMs: this.retryAfterMs(request.model, queued, tabs.length) });

    return new Promise<StartResult>((resolve) => {
      const waiter: Waiter = {
        task,
        counts,
        settle: (result) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const at = this.waiting.indexOf(waiter);
          if (at >= 0) this.waiting.splice(at, 1);
          resolve(result);
        },
      };
      const onAbort = () => waiter.settle({ ok: false, reason: 'aborted' });
      const timer = setTimeout(() => waiter.settle({ ok: false, reason: 'busy' }), this.options.queueTimeoutMs ?? 30_000);
      timer.unref?.();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** A tab became free or changed what it serves: hand it the oldest waiting request it can take. */
  dispatchWaiting(): void {
    for (const waiter of [...this.waiting]) {
      const tabs = this.candidates(waiter.task.model);
      if (tabs.length === 0) {
        waiter.settle({ ok: false, reason: 'no_tab' });
        continue;
      }
      const tab = pickTab(tabs, waiter.task.model);
      if (tab) waiter.settle({ ok: true, job: this.dispatch(waiter.task, tab, waiter.counts) });
    }
  }

  /** When a place in the model's queue should be free: the jobs ahead, spread over its tabs, at their usual length. */
  private retryAfterMs(model: string, queued: number, tabs: number): number {
    const perJob = this.jobMs.get(model) ?? 5_000;
    return Math.min(60_000, Math.max(1_000, Math.ceil(((queued + 1) * perJob) / Math.max(1, tabs))));
  }

  /** Ready tabs that serve the model and may take its jobs, busy or not. */
  private candidates(model: string): Tab[] {
    const eligible = this.options.eligible;
    return this.options.registry.ready().filter((t) => servesModel(t, model) && (!eligible || eligible(t, model)));
  }

  /** A job message from `tab`. Messages for jobs that already ended (e.g. cancelled) are dropped. */
  handle(tab: Tab, message: FromTab): void {
    const job = this.jobs.get(message.jobId);
    if (!job) return;
    if (job.tab !== tab) {
      this.log(`${tab.id} sent ${message.type} for ${message.jobId}, which belongs to ${job.tab.id}; dropped`);
      return;
    }
    const { jobId: _jobId, ...event } = message;
    const violation = this.violation(job, event);
    if (violation) return this.expel(job, 'protocol_error', violation);
    if (event.type === 'tokens') {
      job.nextIndex += event.tokens.length;
      for (const t of event.tokens) job.tokens.push({ id: t.token.id, logprob: t.token.logprob, top: t.top.map((a) => ({ id: a.id, logprob: a.logprob })) });
      job.firstTokenAt ??= this.now();
      this.touch(job);
      job.queue.push(event);
      return;
    }
    if (event.type === 'done') {
      const { signature, ...done } = event;
      const verify = this.options.verifyResult ?? verifyResultSignature;
      if (!verify(tab, transcriptOf(job.task, job.tokens, done), signature)) return this.expel(job, 'protocol_error', 'the result signature does not match the transcript of the job');
      const seconds = job.firstTokenAt === null ? 0 : (this.now() - job.firstTokenAt) / 1000;
      this.options.registry.recordJob(tab, job.nextIndex, seconds);
      this.finish(job, done);
      const { finishReason, promptTokens, completionTokens } = done;
      return this.afterwards(() => this.options.onCompleted?.({ tab, task: job.task, tokens: job.tokens, end: { finishReason, promptTokens, completionTokens } }));
    }
    this.finish(job, event);
  }

  /**
   * The tab's data channel closed and its link is the WebSocket again: each of its jobs continues from where the
   * coordinator is — `resume` from the next token index, or the task again when no token arrived (the task itself
   * may have been lost). The tab held the job's messages since the channel closed, so none is lost or repeated.
   */
  dataChannelLost(tab: Tab): void {
    for (const job of this.jobs.values()) {
      if (job.tab !== tab) continue;
      this.log(`${tab.id}: ${job.id} continues on the WebSocket from token ${job.nextIndex}`);
      tab.link.send(job.nextIndex === 0 ? job.task : { type: 'resume', jobId: job.id, from: job.nextIndex });
      this.touch(job);
    }
  }

  /** The tab disconnected: every job on it fails; requests waiting for its model may have no tab left. */
  tabClosed(tab: Tab): void {
    for (const job of [...this.jobs.values()])
      if (job.tab === tab) this.finish(job, { type: 'failed', code: 'tab_disconnected', message: 'the contributor tab disconnected' });
    this.dispatchWaiting();
  }

  private dispatch(task: TaskMessage, tab: Tab, counts: Counts): Job {
    const job: RunningJob = { id: task.jobId, tab, task, params: task.params, counts, tokens: [], queue: new EventQueue(), check: this.options.streamCheck?.(task) ?? null, nextIndex: 0, firstTokenAt: null, startedAt: this.now(), timer: null };
    this.jobs.set(job.id, job);
    tab.runningJobs++;
    this.touch(job);
    tab.link.send(task);
    return {
      id: job.id,
      tab: { id: tab.id, backend: tab.backend, transport: tab.link.kind },
      events: job.queue,
      cancel: (reason) => {
        if (!this.jobs.has(job.id)) return;
        tab.link.send({ type: 'cancel', jobId: job.id });
        this.finish(job, { type: 'failed', code: 'client_closed_request', message: reason });
      },
    };
  }

  /** What is wrong with `event` for this job, or null. */
  private violation(job: RunningJob, event: Strip<FromTab>): string | null {
    if (event.type === 'tokens') {
      for (const [offset, token] of event.tokens.entries()) {
        const expected = job.nextIndex + offset;
        if (token.index !== expected) return `token ${token.index} arrived where ${expected} was expected`;
        if (token.index >= job.params.maxTokens) return `token ${token.index} is beyond max_tokens ${job.params.maxTokens}`;
        // Exactly as many as asked: the vocabulary always has more tokens than the 20 one may ask for.
        if (token.top.length !== job.params.topLogprobs) return `${token.top.length} alternatives sent, ${job.params.topLogprobs} asked for`;
      }
      return job.check?.tokens(event.tokens) ?? null;
    }
    if (event.type === 'done') {
      // Every streamed token counts, plus at most one end-of-sequence token that is not streamed.
      const { completionTokens } = event;
      if (completionTokens < job.nextIndex || completionTokens > Math.min(job.nextIndex + 1, job.params.maxTokens))
        return `done reports ${completionTokens} completion tokens after ${job.nextIndex} were streamed`;
      if (event.promptTokens < 1) return 'done reports an empty prompt';
      const { promptTokens, contextLength } = job.counts;
      if (promptTokens !== undefined && event.promptTokens !== promptTokens) return `done reports ${event.promptTokens} prompt tokens; the prompt has ${promptTokens}`;
      if (contextLength !== undefined && event.promptTokens + completionTokens > contextLength) return `done reports ${event.promptTokens} + ${completionTokens} tokens, more than the ${contextLength}-token context holds`;
      return job.check?.done(event) ?? null;
    }
    return null;
  }

  /** Fails the job and disconnects its tab, which broke the protocol or went silent. */
  private expel(job: RunningJob, code: 'protocol_error' | 'tab_timeout', message: string): void {
    this.log(`${job.tab.id}: ${code} on ${job.id}: ${message}; disconnecting the tab`);
    job.tab.ready = false; // no new work while it closes
    job.tab.link.send({ type: 'cancel', jobId: job.id });
    this.finish(job, { type: 'failed', code, message });
    job.tab.link.close(code);
  }

  private touch(job: RunningJob): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(() => this.expel(job, 'tab_timeout', `the contributor tab sent nothing for ${this.options.idleTimeoutMs} ms`), this.options.idleTimeoutMs);
    job.timer.unref?.();
  }

  private finish(job: RunningJob, event: JobEvent): void {
    if (!this.jobs.delete(job.id)) return;
    if (event.type === 'done') {
      const took = this.now() - job.startedAt;
      const average = this.jobMs.get(job.task.model);
      this.jobMs.set(job.task.model, average === undefined ? took : 0.8 * average + 0.2 * took);
    }
    if (job.timer) clearTimeout(job.timer);
    job.tab.runningJobs--;
    job.queue.push(event);
    job.queue.close();
    if (event.type !== 'tokens') this.afterwards(() => this.options.onFinished?.({ id: job.id, tab: job.tab, event, streamed: job.nextIndex, promptTokens: job.counts.promptTokens }));
    this.dispatchWaiting();
    this.afterwards(() => this.options.onTabFree?.(job.tab));
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
