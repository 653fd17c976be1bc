/**
 * Each tab's assigned jobs in the order its engine runs them: the first runs, the others wait behind it in the tab
 * (its worker runs jobs one at a time, in the order their tasks arrived). Keeps `Tab.runningJobs` equal to the
 * length of the tab's queue. No I/O.
 */
import type { Tab } from '../tabs/tab-registry.ts';

export class TabQueues<J> {
  private readonly queues = new Map<Tab, J[]>();

  /** Appends the job to the tab's queue; true when it is first (the tab starts it now). */
  add(tab: Tab, job: J): boolean {
    let queue = this.queues.get(tab);
    if (!queue) this.queues.set(tab, (queue = []));
    queue.push(job);
    tab.runningJobs = queue.length;
    return queue.length === 1;
  }

  /** Takes the job off the tab's queue; returns the job that is now first when the one removed was, else null. */
  remove(tab: Tab, job: J): J | null {
    const queue = this.queues.get(tab);
    const at = queue ? queue.indexOf(job) : -1;
    if (!queue || at < 0) return null;
    queue.splice(at, 1);
    tab.runningJobs = queue.length;
    if (queue.length === 0) this.queues.delete(tab);
    return at === 0 ? (queue[0] ?? null) : null;
  }

  /** The tab's jobs, the running one first. */
  of(tab: Tab): readonly J[] {
    return this.queues.get(tab) ?? [];
  }

  isFirst(tab: Tab, job: J): boolean {
    return this.queues.get(tab)?.[0] === job;
  }
}
