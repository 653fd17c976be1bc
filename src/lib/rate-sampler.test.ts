import { describe, expect, it } from 'vitest';
import { RateSampler } from './rate-sampler.ts';

describe('RateSampler', () => {
  it('divides the growth by the time that really passed, however late the sample', () => {
    const rates = new RateSampler();
    expect(rates.sample(0, 0)).toBeNull();
    expect(rates.sample(40, 2000)).toBe(20);
    // A hidden tab's timer fired after a minute instead of 2 s: 600 tokens over 60 s, not over 2 s.
    expect(rates.sample(640, 62_000)).toBe(10);
  });
  it('gives null when no time passed and never a negative rate', () => {
    const rates = new RateSampler();
    rates.sample(10, 1000);
    expect(rates.sample(12, 1000)).toBeNull();
    expect(rates.sample(5, 2000)).toBe(0);
  });
  it('starts afresh after reset', () => {
    const rates = new RateSampler();
    rates.sample(0, 0);
    rates.reset();
    expect(rates.sample(100, 1000)).toBeNull();
  });
});
