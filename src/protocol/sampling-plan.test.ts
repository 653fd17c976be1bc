import { describe, expect, it } from 'vitest';
import { choiceSeed } from './sampling-plan.ts';

describe('choiceSeed', () => {
  it('is the seed for choice 0 and the following integers for the others, distinct up to the top of the range, then wrapping to 0', () => {
    expect([0, 1, 2].map((i) => choiceSeed(41, i))).toEqual([41, 42, 43]);
    const max = Number.MAX_SAFE_INTEGER;
    const top = [0, 1, 2, 3, 4].map((i) => choiceSeed(max - 1, i));
    expect(top).toEqual([max - 1, max, 0, 1, 2]);
    expect(new Set([0, 1, 2, 3, 4, 5, 6, 7].map((i) => choiceSeed(max, i))).size).toBe(8);
  });
});
