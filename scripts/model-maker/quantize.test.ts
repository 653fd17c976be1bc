import { describe, expect, it } from 'vitest';
import { alongInput, alongRows, QUANT_GROUP_SIZE, quantizeGroups } from './quantize.ts';
import { DOLPHIN_TINY, DOLPHIN_TINY_Q4, vocabSize } from './specs.ts';
import type { LlamaWeights } from './weights.ts';
import { makeWeights } from './weights.ts';

describe('quantizeGroups', () => {
  it('rounds each group to multiples of max|w|/7 and leaves the input alone', () => {
    // One line of 4 entries, groups of 2: scales 0.7/7 = 0.1 and 1.4/7 = 0.2.
    const w = new Float32Array([0.7, -0.26, 0.33, -1.4]);
    const q = quantizeGroups(w, alongRows(1, 4), 4, 2);
    expect([...q]).toEqual([0.7, -0.3, 0.4, -1.4].map(Math.fround));
    expect([...w]).toEqual([0.7, -0.26, 0.33, -1.4].map(Math.fround));
  });

  it('cuts groups down the input dimension of a [in, out] matrix, the last one shorter', () => {
    // [in 3, out 2]: column 0 is (1, 0.6, 0.2), column 1 is (0, 0, 7); groups of 2 along `in`.
    const w = new Float32Array([1, 0, 0.6, 0, 0.2, 7]);
    const q = quantizeGroups(w, alongInput(3, 2), 4, 2);
    // Column 0: group (1, 0.6) has step 1/7, so 0.6 → 4/7; group (0.2) alone is exact. Column 1: (0, 0) stays zero.
    const step = Math.fround(1 / 7);
    expect([...q]).toEqual([7 * step, 0, 4 * step, 0, 0.2, 7].map(Math.fround));
  });

  it('rejects lines that do not cover the array', () => {
    expect(() => quantizeGroups(new Float32Array(5), alongRows(2, 2), 4)).toThrow(/lines/);
  });
});

/** Every matrix of dolphin-tiny with its groups: lists of flat indices, cut along the input dimension. */
function matrices(w: LlamaWeights): { name: string; tensor: Float32Array; groups: number[][] }[] {
  const h = DOLPHIN_TINY.hiddenSize;
  const q = DOLPHIN_TINY.numHeads * DOLPHIN_TINY.headDim;
  const kv = DOLPHIN_TINY.numKvHeads * DOLPHIN_TINY.headDim;
  const ff = DOLPHIN_TINY.intermediateSize;
  const v = vocabSize(DOLPHIN_TINY);
  // [in, out] row-major: entry (k, j) at k * out + j; a group is up to 32 consecutive k for one j.
  const inputGroups = (inDim: number, outDim: number) =>
    Array.from({ length: outDim }, (_, j) =>
      Array.from({ length: Math.ceil(inDim / QUANT_GROUP_SIZE) }, (_, g) =>
        Array.from({ length: Math.min(QUANT_GROUP_SIZE, inDim - g * QUANT_GROUP_SIZE) }, (_, t) => (g * QUANT_GROUP_SIZE + t) * outDim + j),
      ),
    ).flat();
  // The embedding [vocab, hidden] is read by row: a group is 32 consecutive entries of one row.
  const rowGroups = Array.from({ length: (v * h) / QUANT_GROUP_SIZE }, (_, g) =>
    Array.from({ length: QUANT_GROUP_SIZE }, (_, t) => g * QUANT_GROUP_SIZE + t),
  );
  return [
    { name: 'embed_tokens', tensor: w.embedTokens, groups: rowGroups },
    { name: 'lm_head', tensor: w.lmHead, groups: inputGroups(h, v) },
    ...w.layers.flatMap((l, i) => [
      { name: `${i}.q_proj`, tensor: l.qProj, groups: inputGroups(h, q) },
      { name: `${i}.k_proj`, tensor: l.kProj, groups: inputGroups(h, kv) },
      { name: `${i}.v_proj`, tensor: l.vProj, groups: inputGroups(h, kv) },
      { name: `${i}.o_proj`, tensor: l.oProj, groups: inputGroups(q, h) },
      { name: `${i}.gate_proj`, tensor: l.gateProj, groups: inputGroups(h, ff) },
      { name: `${i}.up_proj`, tensor: l.upProj, groups: inputGroups(h, ff) },
      { name: `${i}.down_proj`, tensor: l.downProj, groups: inputGroups(ff, h) }, // 176 = 5×32 + 16
    ]),
  ];
}

describe('dolphin-tiny-q4 weights', () => {
  const original = makeWeights(DOLPHIN_TINY);
  const quantized = makeWeights(DOLPHIN_TINY_Q4);
  const pairs = matrices(original).map((m, i) => ({ ...m, rounded: matrices(quantized)[i]!.tensor }));

  it.each(pairs)('$name: differs, each group has ≤ 16 levels, each entry within half a step', ({ tensor, rounded, groups }) => {
    expect(groups.flat().sort((a, b) => a - b)).toEqual(Array.from(tensor, (_, i) => i)); // the groups cover the tensor once
    let changed = 0;
    for (const group of groups) {
      const step = Math.max(...group.map((i) => Math.abs(tensor[i]!))) / 7;
      expect(new Set(group.map((i) => rounded[i])).size).toBeLessThanOrEqual(16);
      for (const i of group) {
        expect(Math.abs(rounded[i]! - tensor[i]!)).toBeLessThanOrEqual((step / 2) * (1 + 1e-6));
        if (rounded[i] !== tensor[i]) changed++;
      }
    }
    expect(changed).toBeGreaterThan(tensor.length / 2);
  });

  it('keeps the norm vectors as they are', () => {
    expect(quantized.finalNorm).toEqual(original.finalNorm);
    quantized.layers.forEach((l, i) => {
      expect(l.inputNorm).toEqual(original.layers[i]!.inputNorm);
      expect(l.postAttentionNorm).toEqual(original.layers[i]!.postAttentionNorm);
    });
  });
});
