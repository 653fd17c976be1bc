/**
 * Independent plain-TypeScript Llama forward pass (float64 math over the float32 seeded weights), used to
 * check the ONNX graph. Shares only the weights with the graph builder; every operation is re-derived here
 * (RoPE angles included), so an error in llama-graph.ts cannot hide in both.
 */
import type { LlamaSpec } from './specs.ts';
import { vocabSize } from './specs.ts';
import type { LlamaWeights } from './weights.ts';
import { makeWeights } from './weights.ts';

export interface ReferenceResult {
  /** Row-major [tokenIds.length, vocabSize], like the ONNX `logits` output for batch 1. */
  readonly logits: Float64Array;
  readonly vocabSize: number;
  /** RMS of the residual stream: after the embedding, then after each layer (length numLayers + 1). */
  readonly residualRms: readonly number[];
}

/**
 * Full causal pass over `tokenIds` at positions 0..n-1 (no padding, no cache).
 * Pass `weights` when calling repeatedly; generating them dominates the cost for the small model.
 */
export function referenceForward(
  spec: LlamaSpec,
  tokenIds: readonly number[],
  weights: LlamaWeights = makeWeights(spec),
): ReferenceResult {
  const n = tokenIds.length;
  const h = spec.hiddenSize;
  const vocab = vocabSize(spec);
  const x = new Float64Array(n * h);
  tokenIds.forEach((id, t) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new Error(`token id ${id} out of range`);
    for (let i = 0; i < h; i++) x[t * h + i] = weights.embedTokens[id * h + i]!;
  });
  const residualRms = [rms(x)];
  for (const layer of weights.layers) {
    const attn = attention(spec, rmsNorm(x, layer.inputNorm, spec.rmsNormEps, h), layer, n);
    addInPlace(x, matmul(attn, layer.oProj, spec.numHeads * spec.headDim, h));
    const hn = rmsNorm(x, layer.postAttentionNorm, spec.rmsNormEps, h);
    const ff = spec.intermediateSize;
    const gate = matmul(hn, layer.gateProj, h, ff);
    const up = matmul(hn, layer.upProj, h, ff);
    for (let i = 0; i < gate.length; i++) {
      const gi = gate[i]!;
      gate[i] = (gi / (1 + Math.exp(-gi))) * up[i]!;
    }
    addInPlace(x, matmul(gate, layer.downProj, ff, h));
    residualRms.push(rms(x));
  }
  const logits = matmul(rmsNorm(x, weights.finalNorm, spec.rmsNormEps, h), weights.lmHead, h, vocab);
  return { logits, vocabSize: vocab, residualRms };
}

function attention(spec: LlamaSpec, hn: Float64Array, layer: LlamaWeights['layers'][number], n: number): Float64Array {
  const { hiddenSize: h, headDim: d, numHeads: nh, numKvHeads: kvh } = spec;
  const q = matmul(hn, layer.qProj, h, nh * d);
  const k = matmul(hn, layer.kProj, h, kvh * d);
  const v = matmul(hn, layer.vProj, h, kvh * d);
  for (let t = 0; t < n; t++) {
    for (let head = 0; head < nh; head++) rotate(q, (t * nh + head) * d, t, spec);
    for (let head = 0; head < kvh; head++) rotate(k, (t * kvh + head) * d, t, spec);
  }
  const group = nh / kvh;
  const out = new Float64Array(n * nh * d);
  const scores = new Float64Array(n);
  for (let head = 0; head < nh; head++) {
    const kvHead = Math.floor(head / group); // HF repeat_kv: query head h reads kv head h / group
    for (let t = 0; t < n; t++) {
      let max = -Infinity;
      for (let j = 0; j <= t; j++) {
        let s = 0;
        for (let i = 0; i < d; i++) s += q[(t * nh + head) * d + i]! * k[(j * kvh + kvHead) * d + i]!;
        scores[j] = s / Math.sqrt(d);
        max = Math.max(max, scores[j]!);
      }
      let sum = 0;
      for (let j = 0; j <= t; j++) {
        scores[j] = Math.exp(scores[j]! - max);
        sum += scores[j]!;
      }
      for (let j = 0; j <= t; j++) {
        const p = scores[j]! / sum;
        for (let i = 0; i < d; i++) out[(t * nh + head) * d + i]! += p * v[(j * kvh + kvHead) * d + i]!;
      }
    }
  }
  return out;
}

/** In-place HF rotate_half RoPE on vec[offset .. offset+headDim) at position `pos`. */
function rotate(vec: Float64Array, offset: number, pos: number, spec: LlamaSpec): void {
  const half = spec.headDim / 2;
  for (let i = 0; i < half; i++) {
    const angle = pos * Math.pow(spec.ropeTheta, (-2 * i) / spec.headDim);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const a = vec[offset + i]!;
    const b = vec[offset + i + half]!;
    vec[offset + i] = a * c - b * s;
    vec[offset + i + half] = b * c + a * s;
  }
}

function rmsNorm(x: Float64Array, weight: Float32Array, eps: number, h: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let row = 0; row < x.length / h; row++) {
    let ss = 0;
    for (let i = 0; i < h; i++) ss += x[row * h + i]! ** 2;
    const inv = 1 / Math.sqrt(ss / h + eps);
    for (let i = 0; i < h; i++) out[row * h + i] = x[row * h + i]! * inv * weight[i]!;
  }
  return out;
}

/** [rows, inDim] @ [inDim, outDim] (w row-major) → [rows, outDim]. */
function matmul(a: Float64Array, w: Float32Array, inDim: number, outDim: number): Float64Array {
  const rows = a.length / inDim;
  const out = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < inDim; k++) {
      const av = a[r * inDim + k]!;
      const base = k * outDim;
      for (let j = 0; j < outDim; j++) out[r * outDim + j]! += av * w[base + j]!;
    }
  }
  return out;
}

function addInPlace(x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) x[i]! += y[i]!;
}

function rms(x: Float64Array): number {
  let ss = 0;
  for (const v of x) ss += v * v;
  return Math.sqrt(ss / x.length);
}
