/**
 * Jobs in flight: sends each task to the tab the scheduler picked, routes the tab's token/done/failed messages to
 * the job's consumer, and guarantees every job ends exactly once (done, failed, cancelled, tab gone, or silent
 * for too long) with the tab's load released.
 */
import { randomUUID } from 'node:crypto';
import type { PlainMessage } from '../../src/protocol/api.ts';
import type { SamplingParams, TabToCoordinator } from '../../src/protocol/tab.ts';
import { pickTab } from '../schedule/pick-tab.ts';
import type { Tab, TabRegistry } from '../tabs/tab-registry.ts';
import { EventQueue } from './event-queue.ts';

type Strip<T> = T extends { jobId: string } ? Omit<T, 'jobId'> : never;
type FromTab = Extract<TabToCoordinator, { type: 'token' | 'done' | 'failed' }>;
export type JobEvent = Strip<FromTab>;

export interface JobRequest {
  model: string;
  messages: PlainMessage[];
  params: SamplingParams;
}

export interface Job {
  id: string;
  tab: Pick<Tab, 'id' | 'backend'>;
  /** Ends after a `done` or `failed` event. */
  events: AsyncIterable<JobEvent>;
  /** Stops the job (e.g. the client hung up); the tab is told to stop. Idempotent. */
  cancel(reason: string): void;
}

interface RunningJob {
  id: string;
  tab: Tab;
  queue: EventQueue<JobEvent>;
  nextIndex: number;
  firstTokenAt: number | null;
  timer: ReturnType<typeof setTimeout> | null;
}

export interface JobBoardOptions {
  registry: TabRegistry;
  /** A job whose tab sends nothing for this long fails with `tab_timeout`. */
  idleTimeoutMs: number;
  now?: () => number;
  log?: (message: string) => void;
}

export class JobBoard {
  private readonly jobs = new Map<string, RunningJob>();
  private readonly now: () => number;
  private readonly log: (message: string) => void;

  constructor(private readonly options: JobBoardOptions) {
    this.now = options.now ?? (() => performance.now());
    this.log = options.log ?? (() => {});
  }

  get size(): number {
    return this.jobs.size;
  }

  /** Starts a job on the best tab for the model, or returns null when no tab serves it. */
  start(request: JobRequest, id = `chatcmpl-${randomUUID().replaceAll('-', '')}`): Job | null {
    const tab = pickTab(this.options.registry.ready(), request.model);
    if (!tab) return null;
    const job: RunningJob = { id, tab, queue: new EventQueue(), nextIndex: 0, firstTokenAt: null, timer: null };
    this.jobs.set(id, job);
    tab.runningJobs++;
    this.touch(job);
    tab.link.send({ type: 'task', jobId: id, model: request.model, messages: request.messages, params: request.params });
    return {
      id,
      tab: { id: tab.id, backend: tab.backend },
      events: job.queue,
      cancel: (reason) => {
        if (!this.jobs.has(id)) return;
        tab.link.send({ type: 'cancel', jobId: id });
        this.finish(job, { type: 'failed', code: 'cancelled', message: reason });
      },
    };
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
    if (event.type === 'token') {
      if (event.index !== job.nextIndex) {
        tab.link.send({ type: 'cancel', jobId: job.id });
        this.finish(job, { type: 'failed', code: 'protocol_error', message: `token ${event.index} arrived where ${job.nextIndex} was expected` });
        return;
      }
      job.nextIndex++;
      job.firstTokenAt ??= this.now();
      this.touch(job);
      job.queue.push(event);
      return;
    }
    if (event.type === 'done') {
      const seconds = job.firstTokenAt === null ? 0 : (this.now() - job.firstTokenAt) / 1000;
      this.options.registry.recordJob(tab, Math.max(0, event.completionTokens - 1), seconds);
    }
    this.finish(job, event);
  }

  /** The tab disconnected: every job on it fails. */
  tabClosed(tab: Tab): void {
    for (const job of [...this.jobs.values()])
      if (job.tab === tab) this.finish(job, { type: 'failed', code: 'tab_disconnected', message: 'the contributor tab disconnected' });
  }

  private touch(job: RunningJob): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(() => {
      job.tab.link.send({ type: 'cancel', jobId: job.id });
      this.finish(job, { type: 'failed', code: 'tab_timeout', message: `the contributor tab sent nothing for ${this.options.idleTimeoutMs} ms` });
    }, this.options.idleTimeoutMs);
    job.timer.unref?.();
  }

  private finish(job: RunningJob, event: JobEvent): void {
    if (!this.jobs.delete(job.id)) return;
    if (job.timer) clearTimeout(job.timer);
    job.tab.runningJobs--;
    job.queue.push(event);
    job.queue.close();
  }
}
