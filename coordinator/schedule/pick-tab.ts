/**
 * Chooses the tab that serves a request. Pure: works on plain snapshots of the tabs.
 * A tab runs one job at a time (its worker runs jobs sequentially), so only idle tabs are candidates.
 * Among idle tabs with the model loaded: the highest tokens/s (measured on served jobs, else from the tab's
 * calibration run) weighted by reputation (×0.5 for the worst
 * record, ×1.5 for the best: a faster tab with a poor audit record loses to a sound one nearly as fast) and divided
 * by HIDDEN_SLOWDOWN for a hidden tab (browsers throttle hidden tabs), then a visible tab over a hidden one, then the
 * better reputation, then the longest-connected tab. (Which tabs may take the job at all — stake — is the caller's.)
 */
export interface TabSnapshot {
  id: string;
  models: readonly string[];
  runningJobs: number;
  /** Measured decode speed over recent jobs; null until the tab has served one. */
  tokensPerSecond: number | null;
  /** Decode speed per model from the tab's calibration run when it loaded the model (what it reported). */
  calibration: Readonly<Record<string, number>>;
  connectedAt: number;
  /** The identity's reputation in [0, 1] (coordinator/ledger/reputation.ts); a newcomer's is 0.5. */
  reputation: number;
  /** The page is hidden (its browser throttles it), as the tab last reported. */
  hidden: boolean;
}

/** How many times slower a hidden tab is taken to be. */
export const HIDDEN_SLOWDOWN = 4;

export const JOBS_PER_TAB = 1;

export const servesModel = (tab: TabSnapshot, model: string) => tab.models.includes(model);

export function pickTab<T extends TabSnapshot>(tabs: readonly T[], model: string): T | null {
  let best: T | null = null;
  for (const tab of tabs) {
    if (!servesModel(tab, model) || tab.runningJobs >= JOBS_PER_TAB) continue;
    if (!best || compare(tab, best, model) < 0) best = tab;
  }
  return best;
}

/** The tab's decode speed for the model: measured on served jobs, else its calibration run's, else unknown (0). */
const speedFor = (t: TabSnapshot, model: string) => t.tokensPerSecond ?? t.calibration[model] ?? 0;

const score = (t: TabSnapshot, model: string) => (speedFor(t, model) * (0.5 + t.reputation)) / (t.hidden ? HIDDEN_SLOWDOWN : 1);

function compare(a: TabSnapshot, b: TabSnapshot, model: string): number {
  return score(b, model) - score(a, model) || Number(a.hidden) - Number(b.hidden) || b.reputation - a.reputation || a.connectedAt - b.connectedAt;
}
