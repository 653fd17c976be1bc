import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff, onnxBytes, runDecoder } from './decoder-session.test-helper.ts';
import { buildLlamaGraph } from './llama-graph.ts';
import { referenceForward } from './reference-forward.ts';
import type { LlamaSpec } from './specs.ts';
import { DOLPHIN_SMALL, DOLPHIN_TINY, vocabSize } from './specs.ts';
import { makeWeights } from './weights.ts';

/** Deterministic ids spread over the whole vocab, special tokens included. */
function sampleIds(spec: LlamaSpec, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 97 + 13) % vocabSize(spec));
}

function std(row: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < row.length; i++) mean += row[i]! / row.length;
  let v = 0;
  for (let i = 0; i < row.length; i++) v += (row[i]! - mean) ** 2 / row.length;
  return Math.sqrt(v);
}

describe.each([
  { spec: DOLPHIN_TINY, n: 10 },
  { spec: DOLPHIN_SMALL, n: 6 },
])('$spec.id', ({ spec, n }) => {
  const weights = makeWeights(spec);

  it('has the optimum decoder-with-past inputs and outputs', async () => {
    const session = await ort.InferenceSession.create(onnxBytes(spec));
    const kv = (prefix: string) =>
      Array.from({ length: spec.numLayers }, (_, i) => [`${prefix}.${i}.key`, `${prefix}.${i}.value`]).flat();
    expect(session.inputNames).toEqual(['input_ids', 'attention_mask', 'position_ids', ...kv('past_key_values')]);
    expect(session.outputNames).toEqual(['logits', ...kv('present')]);
    await session.release();
  });

  it('gives the logits of the plain-TypeScript reference', async () => {
    const session = await ort.InferenceSession.create(onnxBytes(spec));
    const ids = sampleIds(spec, n);
    const { logits, present } = await runDecoder(ort, session, spec, {
      inputIds: [ids],
      attentionMask: [ids.map(() => 1)],
    });
    const reference = referenceForward(spec, ids, weights);
    expect(logits.length).toBe(n * vocabSize(spec));
    expect(maxAbsDiff(logits, reference.logits)).toBeLessThan(1e-4);
    expect(present['present.0.key']?.dims).toEqual([1, spec.numKvHeads, n, spec.headDim]);
    await session.release();
  });

  it('spreads logits widely and keeps the residual stream bounded', () => {
    const ids = sampleIds(spec, n);
    const reference = referenceForward(spec, ids, weights);
    const v = reference.vocabSize;
    for (let t = 0; t < n; t++) {
      const s = std(reference.logits.subarray(t * v, (t + 1) * v));
      expect(s).toBeGreaterThan(3);
      expect(s).toBeLessThan(6);
    }
    const [first, ...rest] = reference.residualRms;
    for (const r of rest) expect(r / first!).toBeLessThan(2);
  });

  it('depends on earlier tokens, not only the last one', () => {
    const a = sampleIds(spec, n);
    const b = a.map((id, i) => (i === a.length - 1 ? id : (id + 1) % vocabSize(spec)));
    const v = vocabSize(spec);
    const last = (ids: number[]) => referenceForward(spec, ids, weights).logits.subarray((n - 1) * v);
    expect(maxAbsDiff(last(a), last(b))).toBeGreaterThan(0.1);
  });
});

describe('graph', () => {
  it('uses only standard ai.onnx ops that the WebGPU and WASM providers implement', () => {
    const allowed = new Set(
      'Add And Cast Concat Gather LessOrEqual MatMul Mul Neg Range Reciprocal ReduceMean Reshape Shape Sigmoid Softmax Split Sqrt Squeeze Sub Transpose Unsqueeze Where'.split(
        ' ',
      ),
    );
    const graph = buildLlamaGraph(DOLPHIN_TINY, makeWeights(DOLPHIN_TINY));
    const used = new Set(graph.nodes.map((n) => n.opType));
    expect([...used].filter((op) => !allowed.has(op))).toEqual([]);
  });
});
