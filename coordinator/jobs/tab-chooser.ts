/**
 * Which tab takes a job (issue #6): the board's live view of the ready tabs for the scheduler (a FleetIndex row
 * per tab: chooseTab's choice without scanning every tab) and each tab's queue of jobs (TabQueues). The view is
 * kept current by refresh(tab), which the board calls on every change it makes (queue, speed, rest) and on
 * tabChanged() for the others. No I/O.
 */
import type { SamplingParams, TaskMessage } from '../../src/protocol/tab.ts';
import { FleetIndex } from '../schedule/fleet-index.ts';
import { memoryFits, workTokens, type JobNeeds, type SchedulerModel, type TabCapabilities } from '../schedule/scheduler.ts';
import { capabilitiesOf, servableModels, type ModelSize } from '../schedule/tab-capabilities.ts';
import type { Tab, TabRegistry } from '../tabs/tab-registry.ts';
import type { Counts } from './job-types.ts';
import { TabQueues } from './tab-queues.ts';

/** What the chooser reads of a job in a tab's queue. */
export interface QueuedJob {
  task: TaskMessage;
  counts: Counts;
  /** The tab serving it (a hedged job is also in its hedge tab's queue). */
  tab: Tab;
  nextIndex: number;
}

export interface TabChooserOptions {
  registry: TabRegistry;
  model: SchedulerModel;
  modelSize?: (model: string) => ModelSize | undefined;
  eligible?: (tab: Tab, model: string) => boolean;
  now: () => number;
}

export class TabChooser<J extends QueuedJob> {
  /** Each tab's jobs, the running one first. */
  readonly queues = new TabQueues<J>();
  private readonly index: FleetIndex<TabCapabilities & { source: Tab }>;

  constructor(private readonly options: TabChooserOptions) {
    this.index = new FleetIndex(options.model);
  }

  /** Adds the job to the tab's queue (true: first, the tab starts it now), and updates the tab's view. */
  enqueue(tab: Tab, job: J): boolean {
    const first = this.queues.add(tab, job);
    this.refresh(tab);
    return first;
  }

  /** Takes the job off the tab's queue and updates the view; the job now first when the one removed was, else null. */
  dequeue(tab: Tab, job: J): J | null {
    const next = this.queues.remove(tab, job);
    this.refresh(tab);
    return next;
  }

  /** The tab left: out of the view. */
  forget(tab: Tab): void {
    this.index.delete(tab.id);
  }

  /** What the scheduler weighs of a task: its model's size and the work left (after any prefix, which is prompt now). */
  needsOf(task: Pick<TaskMessage, 'model' | 'prefix'> & { params: Pick<SamplingParams, 'maxTokens'> }, counts: Counts): JobNeeds {
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
    return t.ready && !t.contributorLimits.paused && !avoid?.has(t.id) && servableModels(t).includes(needs.model) && memoryFits({ backend: t.backend, maxBufferBytes: t.limits?.maxBufferSize ?? null }, needs, this.options.model) && (!eligible || eligible(t, needs.model));
  }

  candidates(needs: JobNeeds, avoid?: ReadonlySet<string>): Tab[] {
    return this.options.registry.ready().filter((t) => this.isCandidate(t, needs, avoid));
  }

  /** Whether any tab may take the job, now or once it has room (stops at the first). */
  anyCandidate(needs: JobNeeds, avoid?: ReadonlySet<string>): boolean {
    return this.options.registry.some((t) => this.isCandidate(t, needs, avoid));
  }

  /**
   * The tab that should finish the job first (the scheduler's choice over the index), other than those in `avoid`,
   * only an idle one with `idleOnly`; null when none has room now.
   */
  choose(needs: JobNeeds, avoid?: ReadonlySet<string>, idleOnly = false): Tab | null {
    const eligible = this.options.eligible;
    const fit = (view: { id: string; source: Tab }) => !avoid?.has(view.id) && (!idleOnly || view.source.runningJobs === 0) && (!eligible || eligible(view.source, needs.model));
    return this.index.choose(needs, fit)?.tab.source ?? null;
  }

  /**
   * Brings the tab's row in the index up to date: its capabilities and queue (the running job's work as of its last
   * queue change: it is not refreshed per token, so its ETA errs long). A tab resting to keep to its share of time,
   * or below a full share with a job, is in it as paused; a tab not ready, or gone, leaves it.
   */
  refresh(tab: Tab): void {
    if (!tab.ready || this.options.registry.get(tab.id) !== tab) {
      this.index.delete(tab.id);
      return;
    }
    const view = capabilitiesOf(tab, this.workOf(tab));
    const resting = tab.restUntil > this.options.now() || (tab.contributorLimits.share < 1 && tab.runningJobs > 0);
    this.index.set({ ...view, paused: view.paused || resting, source: tab });
  }

  /** The tab's queue as the scheduler weighs it: each job's work left in decode-token equivalents, its model's size. */
  private workOf(tab: Tab): Array<{ model: string; remainingTokens: number; modelBytes?: number }> {
    return this.queues.of(tab).map((job) => {
      const needs = this.needsOf(job.task, job.counts);
      const streamed = job.tab === tab && this.queues.isFirst(tab, job) ? job.nextIndex - (job.task.prefix?.length ?? 0) : 0;
      return { model: needs.model, remainingTokens: Math.max(0, workTokens(needs, this.options.model) - streamed), modelBytes: needs.modelBytes };
    });
  }
}
