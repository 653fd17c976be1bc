import { describe, expect, it } from 'vitest';
import { argmax, canonicalOrder, filteredDistribution, logSoftmax, selectToken, topLogprobs, uniformAt } from './sampling.ts';

describe('uniformAt', () => {
  it('is a function of (seed, step) and lies in [0, 1)', () => {
    const draws = Array.from({ length: 2000 }, (_, t) => uniformAt(42, t));
    expect(draws).toEqual(Array.from({ length: 2000 }, (_, t) => uniformAt(42, t)));
    expect(draws.every((u) => u >= 0 && u < 1)).toBe(true);
    expect(new Set(draws).size).toBe(draws.length);
  });

  it('differs between seeds and looks uniform', () => {
    expect(uniformAt(1, 0)).not.toBe(uniformAt(2, 0));
    expect(uniformAt(Number.MAX_SAFE_INTEGER, 3)).not.toBe(uniformAt(Number.MAX_SAFE_INTEGER - 1, 3));
    const n = 20_000;
    const buckets = new Array(10).fill(0);
    for (let t = 0; t < n; t++) buckets[Math.floor(uniformAt(7, t) * 10)]++;
    // Chi-square with 9 degrees of freedom: 27.9 is the 0.1% critical value.
    const chi2 = buckets.reduce((sum, b) => sum + (b - n / 10) ** 2 / (n / 10), 0);
    expect(chi2).toBeLessThan(27.9);
  });
});

describe('token selection', () => {
  const logits = Float32Array.from([1, 3, 3, -2, 0.5]);

  it('greedy picks the max logit, ties to the lower id', () => {
    expect(argmax(logits)).toBe(1);
    expect(selectToken(logits, { temperature: 0, topP: 1, topK: 0 }, 0.99)).toBe(1);
  });

  it('orders canonically: logit descending, ties by id', () => {
    expect(canonicalOrder(logits)).toEqual([1, 2, 0, 4, 3]);
  });

  it('applies temperature, top-k and top-p', () => {
    const plain = filteredDistribution(logits, { temperature: 1, topP: 1, topK: 0 });
    const soft = logSoftmax(logits).map(Math.exp);
    plain.ids.forEach((id, i) => expect(plain.probs[i]).toBeCloseTo(soft[id] as number, 12));
    expect(filteredDistribution(logits, { temperature: 1, topP: 1, topK: 2 }).ids).toEqual([1, 2]);
    const nucleus = filteredDistribution(logits, { temperature: 1, topP: 0.8, topK: 0 });
    expect(nucleus.ids).toEqual([1, 2]); // 0.44 + 0.44 >= 0.8
    expect(nucleus.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const sharp = filteredDistribution(logits, { temperature: 0.1, topP: 1, topK: 0 });
    expect((sharp.probs[0] as number) + (sharp.probs[1] as number)).toBeGreaterThan(0.999);
  });

  it('is the inverse CDF of the filtered distribution', () => {
    const rule = { temperature: 1, topP: 1, topK: 0 };
    const { ids, probs } = filteredDistribution(logits, rule);
    let edge = 0;
    for (let i = 0; i < ids.length; i++) {
      expect(selectToken(logits, rule, edge)).toBe(ids[i]);
      edge += probs[i] as number;
      if (i < ids.length - 1) expect(selectToken(logits, rule, edge - 1e-9)).toBe(ids[i]);
    }
    expect(selectToken(logits, rule, 1 - 1e-16)).toBe(ids[ids.length - 1]);
  });

  it('samples with the right frequencies', () => {
    const rule = { temperature: 0.7, topP: 0.95, topK: 4 };
    const { ids, probs } = filteredDistribution(logits, rule);
    const n = 20_000;
    const counts = new Map<number, number>();
    for (let t = 0; t < n; t++) {
      const id = selectToken(logits, rule, uniformAt(5, t));
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect([...counts.keys()].every((id) => ids.includes(id))).toBe(true);
    ids.forEach((id, i) => expect(Math.abs((counts.get(id) ?? 0) / n - (probs[i] as number))).toBeLessThan(0.015));
  });
});

describe('logprobs', () => {
  it('normalises and reports the top alternatives in order', () => {
    const lp = logSoftmax(Float32Array.from([2, 1, 0, 2]));
    expect(Array.from(lp).reduce((s, x) => s + Math.exp(x), 0)).toBeCloseTo(1, 12);
    expect(topLogprobs(lp, 3).map((t) => t.id)).toEqual([0, 3, 1]);
    expect(topLogprobs(lp, 0)).toEqual([]);
  });
});
