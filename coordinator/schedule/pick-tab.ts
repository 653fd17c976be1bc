/**
 * Chooses the tab that serves a request. Pure: works on plain snapshots of the tabs.
 * A tab runs one job at a time (its worker runs jobs sequentially), so only idle tabs are candidates.
 * Among idle tabs with the model loaded: the fastest measured tokens/s, then the longest-connected tab.
 */
export interface TabSnapshot {
  id: string;
  models: readonly string[];
  runningJobs: number;
  /** Measured decode speed over recent jobs; null until the tab has served one. */
  tokensPerSecond: number | null;
  connectedAt: number;
}

export const JOBS_PER_TAB = 1;

export const servesModel = (tab: TabSnapshot, model: string) => tab.models.includes(model);

export function pickTab<T extends TabSnapshot>(tabs: readonly T[], model: string): T | null {
  let best: T | null = null;
  for (const tab of tabs) {
    if (!servesModel(tab, model) || tab.runningJobs >= JOBS_PER_TAB) continue;
    if (!best || compare(tab, best) < 0) best = tab;
  }
  return best;
}

function compare(a: TabSnapshot, b: TabSnapshot): number {
  return (b.tokensPerSecond ?? 0) - (a.tokensPerSecond ?? 0) || a.connectedAt - b.connectedAt;
}
