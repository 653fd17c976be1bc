import { describe, expect, it } from 'vitest';
import { NO_LIMITS } from '../../src/protocol/tab.ts';
import { allowsModel, restAfter } from './contributor-limits.ts';

describe('contributor limits', () => {
  it('allow every model by default, none while paused, and only the listed ones otherwise', () => {
    expect(allowsModel(NO_LIMITS, 'm')).toBe(true);
    expect(allowsModel({ ...NO_LIMITS, paused: true }, 'm')).toBe(false);
    expect(allowsModel({ ...NO_LIMITS, models: ['a'] }, 'a')).toBe(true);
    expect(allowsModel({ ...NO_LIMITS, models: ['a'] }, 'm')).toBe(false);
    expect(allowsModel({ ...NO_LIMITS, models: [] }, 'a')).toBe(false);
  });

  it('rest a tab so that it computes its share of the time', () => {
    expect(restAfter(1, 800)).toBe(0);
    expect(restAfter(0.5, 800)).toBe(800);
    expect(restAfter(0.25, 800)).toBe(2400);
    // Over a job and its rest, the tab computed `share` of the time.
    for (const share of [0.1, 0.3, 0.9]) expect(800 / (800 + restAfter(share, 800))).toBeCloseTo(share, 10);
    expect(restAfter(0.5, -5)).toBe(0);
  });
});
