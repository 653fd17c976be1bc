import { describe, expect, it } from 'vitest';
import type { NetworkSample } from '../protocol/network.ts';
import { MAX_SAMPLES, fromHistory, parseEvent, peakOf, seriesByName, seriesOf, withSample } from './network-live.ts';

const sample = (at: number, byModel: Record<string, number> = {}, tokensPerSecond = 0): NetworkSample => ({
  at,
  tabs: { total: Object.values(byModel).reduce((a, b) => a + b, 0), byBackend: {}, byModel },
  jobs: { running: 0, queuedInTabs: 0, waiting: 0 },
  throughput: { tokensPerSecond, jobsPerSecond: 0, failedPerSecond: 0 },
  totals: { tokens: 0, jobs: 0, failed: 0 },
  audits: { passed: 0, convicted: 0 },
});
const now = { tabs: [], tabsReady: 0, top: [] };

describe('network-live', () => {
  it('parses the two events and refuses what is not JSON or not their shape', () => {
    const history = { intervalMs: 2000, samples: [sample(1)], now };
    expect(parseEvent('history', JSON.stringify(history))).toEqual(history);
    expect(parseEvent('sample', JSON.stringify({ sample: sample(2), now }))).toEqual({ sample: sample(2), now });
    expect(parseEvent('history', '{not json')).toBeNull();
    expect(parseEvent('history', JSON.stringify({ ...history, intervalMs: -1 }))).toBeNull();
    expect(parseEvent('sample', JSON.stringify({ sample: { ...sample(2), jobs: { running: -1, queuedInTabs: 0, waiting: 0 } }, now }))).toBeNull();
    expect(parseEvent('sample', JSON.stringify(history))).toBeNull();
  });

  it('replaces the view with each history and appends newer samples only, keeping at most MAX_SAMPLES', () => {
    let view = fromHistory({ intervalMs: 2000, samples: [sample(1), sample(2)], now });
    view = withSample(view, { sample: sample(3), now: { tabs: [], tabsReady: 0, top: [{ contributorId: 'a', reputation: 0.5, audited: 1, passed: 0, convicted: 0 }] } });
    expect(view.samples.map((s) => s.at)).toEqual([1, 2, 3]);
    expect(view.now.top).toHaveLength(1);
    view = withSample(view, { sample: sample(3), now });
    view = withSample(view, { sample: sample(2), now });
    expect(view.samples.map((s) => s.at)).toEqual([1, 2, 3]);
    for (let t = 4; t < MAX_SAMPLES + 10; t++) view = withSample(view, { sample: sample(t), now });
    expect(view.samples).toHaveLength(MAX_SAMPLES);
    expect(view.samples.at(-1)?.at).toBe(MAX_SAMPLES + 9);
    expect(fromHistory({ intervalMs: 1, samples: [sample(7)], now }).samples.map((s) => s.at)).toEqual([7]);
  });

  it('draws a series per name seen in any sample, 0 where a sample lacks it', () => {
    const samples = [sample(1, { tiny: 1 }), sample(2, { tiny: 2, small: 1 }), sample(3, {})];
    expect(seriesByName(samples, (s) => s.tabs.byModel)).toEqual([
      { label: 'small', points: [[1, 0], [2, 1], [3, 0]] },
      { label: 'tiny', points: [[1, 1], [2, 2], [3, 0]] },
    ]);
    expect(seriesOf(samples, [['tabs', (s) => s.tabs.total]])).toEqual([{ label: 'tabs', points: [[1, 1], [2, 3], [3, 0]] }]);
  });

  it('finds the peak of a field', () => {
    expect(peakOf([], (s) => s.throughput.tokensPerSecond)).toBe(0);
    expect(peakOf([sample(1, {}, 3), sample(2, {}, 12.5), sample(3, {}, 0)], (s) => s.throughput.tokensPerSecond)).toBe(12.5);
  });
});
