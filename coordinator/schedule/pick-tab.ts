/**
 * Chooses the tab that serves a request. Pure: works on plain snapshots of the tabs.
 * Rule (skeleton): among tabs with the model loaded, the one with the fewest running jobs; ties go to the
 * fastest measured tokens/s, then to the longest-connected tab (stable, predictable).
 */
export interface TabSnapshot {
  id: string;
  models: readonly string[];
  runningJobs: number;
  /** Measured decode speed over recent jobs; null until the tab has served one. */
  tokensPerSecond: number | null;
  connectedAt: number;
}

export function pickTab<T extends TabSnapshot>(tabs: readonly T[], model: string): T | null {
  let best: T | null = null;
  for (const tab of tabs) {
    if (!tab.models.includes(model)) continue;
    if (!best || compare(tab, best) < 0) best = tab;
  }
  return best;
}

function compare(a: TabSnapshot, b: TabSnapshot): number {
  return a.runningJobs - b.runningJobs || (b.tokensPerSecond ?? 0) - (a.tokensPerSecond ?? 0) || a.connectedAt - b.connectedAt;
}
