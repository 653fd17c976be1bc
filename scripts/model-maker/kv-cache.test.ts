import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { Tensor } from './decoder-session.test-helper.ts';
import { maxAbsDiff, onnxBytes, runDecoder } from './decoder-session.test-helper.ts';
import { DOLPHIN_SMALL, DOLPHIN_TINY, vocabSize } from './specs.ts';

const TOLERANCE = 1e-4;

describe.each([{ spec: DOLPHIN_TINY }, { spec: DOLPHIN_SMALL }])('$spec.id', ({ spec }) => {
  const v = vocabSize(spec);
  const ids = Array.from({ length: 9 }, (_, i) => (i * 31 + 7) % v);
  const ones = (n: number) => Array.from({ length: n }, () => 1);

  it('gives the same logits with the KV cache as without', async () => {
    const session = await ort.InferenceSession.create(onnxBytes(spec));
    const full = await runDecoder(ort, session, spec, { inputIds: [ids], attentionMask: [ones(ids.length)] });
    const k = 4;
    let step = await runDecoder(ort, session, spec, { inputIds: [ids.slice(0, k)], attentionMask: [ones(k)] });
    expect(maxAbsDiff(step.logits, full.logits.subarray(0, k * v))).toBeLessThan(TOLERANCE);
    for (let t = k; t < ids.length; t++) {
      step = await runDecoder(ort, session, spec, {
        inputIds: [[ids[t]!]],
        attentionMask: [ones(t + 1)],
        past: step.present,
      });
      expect(step.present['present.0.value']?.dims).toEqual([1, spec.numKvHeads, t + 1, spec.headDim]);
      expect(maxAbsDiff(step.logits, full.logits.subarray(t * v, (t + 1) * v))).toBeLessThan(TOLERANCE);
    }
    await session.release();
  });

  it('gives each row of a left-padded batch the logits it gets alone, before and after a cached step', async () => {
    const session = await ort.InferenceSession.create(onnxBytes(spec));
    const long = ids.slice(0, 7);
    const short = ids.slice(2, 6).reverse();
    const pad = long.length - short.length;
    const mask = [ones(long.length), [...Array<number>(pad).fill(0), ...ones(short.length)]];
    // transformers.js: position_ids = cumsum(mask) - 1, with padded slots set to 1.
    const positions = mask.map((row) => {
      let seen = 0;
      return row.map((m) => (m === 1 ? seen++ : 1));
    });
    const padId = 0;
    const batch = await runDecoder(ort, session, spec, {
      inputIds: [long, [...Array<number>(pad).fill(padId), ...short]],
      attentionMask: mask,
      positionIds: positions,
    });
    const aloneLong = await runDecoder(ort, session, spec, { inputIds: [long], attentionMask: [ones(long.length)] });
    const aloneShort = await runDecoder(ort, session, spec, { inputIds: [short], attentionMask: [ones(short.length)] });
    const rowLen = long.length * v;
    expect(maxAbsDiff(batch.logits.subarray(0, rowLen), aloneLong.logits)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(batch.logits.subarray(rowLen + pad * v, 2 * rowLen), aloneShort.logits)).toBeLessThan(TOLERANCE);
    expect([...batch.logits].every(Number.isFinite)).toBe(true);

    const next = [ids[7]!, ids[8]!];
    const batchStep = await runDecoder(ort, session, spec, {
      inputIds: [[next[0]!], [next[1]!]],
      attentionMask: mask.map((row) => [...row, 1]),
      positionIds: [[long.length], [short.length]],
      past: batch.present,
    });
    const stepAlone = async (prefix: { present: Record<string, Tensor> }, id: number, len: number) =>
      runDecoder(ort, session, spec, { inputIds: [[id]], attentionMask: [ones(len + 1)], past: prefix.present });
    const longStep = await stepAlone(aloneLong, next[0]!, long.length);
    const shortStep = await stepAlone(aloneShort, next[1]!, short.length);
    expect(maxAbsDiff(batchStep.logits.subarray(0, v), longStep.logits)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(batchStep.logits.subarray(v), shortStep.logits)).toBeLessThan(TOLERANCE);
    await session.release();
  });
});
