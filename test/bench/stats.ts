/** Small, pure statistics helpers for benchmark samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (rank - lo);
}

export const median = (samples: readonly number[]) => percentile(samples, 50);

export interface Timing {
  /** Milliseconds from the request to the first token. */
  ttftMs: number;
  /** Tokens after the first, per second of decoding (first token to last). */
  decodeTokensPerSecond: number;
  tokens: number;
}

/** A run's timing from its start time and each token's arrival time (same clock, milliseconds). */
export function timingOf(startedAt: number, tokenTimes: readonly number[]): Timing {
  const first = tokenTimes[0] ?? Number.NaN;
  const last = tokenTimes[tokenTimes.length - 1] ?? Number.NaN;
  return {
    ttftMs: first - startedAt,
    decodeTokensPerSecond: tokenTimes.length > 1 ? ((tokenTimes.length - 1) * 1000) / (last - first) : Number.NaN,
    tokens: tokenTimes.length,
  };
}
