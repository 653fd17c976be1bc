/**
 * The network page's view of the live feed (src/protocol/network.ts), pure: events checked and folded into the
 * samples shown (bounded, in time order), and the series the plots draw from them.
 */
import { networkHistoryEventSchema, networkSampleEventSchema, type NetworkHistoryEvent, type NetworkNow, type NetworkSample } from '../protocol/network.ts';

export interface NetworkView {
  intervalMs: number;
  /** Oldest first, at most MAX_SAMPLES. */
  samples: NetworkSample[];
  now: NetworkNow;
}

/** More than the coordinator keeps by default (10 min at 2 s): the page never holds more than this. */
export const MAX_SAMPLES = 1000;

/** A `history` or `sample` event's data, checked; null when it is not JSON or not the shape the protocol says. */
export function parseEvent(type: 'history', data: string): NetworkHistoryEvent | null;
export function parseEvent(type: 'sample', data: string): { sample: NetworkSample; now: NetworkNow } | null;
export function parseEvent(type: 'history' | 'sample', data: string) {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  const parsed = (type === 'history' ? networkHistoryEventSchema : networkSampleEventSchema).safeParse(json);
  return parsed.success ? parsed.data : null;
}

/** A (re)connection's history replaces what the page held: the coordinator's is the whole truth. */
export function fromHistory(event: NetworkHistoryEvent): NetworkView {
  return { intervalMs: event.intervalMs, samples: event.samples.slice(-MAX_SAMPLES), now: event.now };
}

/** Adds a sample after those held (one not newer than the last is dropped) and takes what is true now. */
export function withSample(view: NetworkView, event: { sample: NetworkSample; now: NetworkNow }): NetworkView {
  const last = view.samples.at(-1);
  const samples = last && event.sample.at <= last.at ? view.samples : [...view.samples, event.sample].slice(-MAX_SAMPLES);
  return { ...view, samples, now: event.now };
}

export type Point = readonly [number, number];
export interface Series {
  label: string;
  points: Point[];
}

/** One series per field picked from each sample. */
export function seriesOf(samples: readonly NetworkSample[], fields: ReadonlyArray<readonly [label: string, pick: (s: NetworkSample) => number]>): Series[] {
  return fields.map(([label, pick]) => ({ label, points: samples.map((s) => [s.at, pick(s)] as const) }));
}

/**
 * One series per name seen in any sample's counts (a backend, a model), sorted by name; a sample without the name
 * counts 0 there (no tab of it then).
 */
export function seriesByName(samples: readonly NetworkSample[], counts: (s: NetworkSample) => Record<string, number>): Series[] {
  const names = new Set<string>();
  for (const s of samples) for (const name of Object.keys(counts(s))) names.add(name);
  return [...names].sort().map((label) => ({ label, points: samples.map((s) => [s.at, Object.hasOwn(counts(s), label) ? (counts(s)[label] ?? 0) : 0] as const) }));
}

/** The largest value of a field over the samples (0 with none). */
export function peakOf(samples: readonly NetworkSample[], pick: (s: NetworkSample) => number): number {
  return samples.reduce((max, s) => Math.max(max, pick(s)), 0);
}

