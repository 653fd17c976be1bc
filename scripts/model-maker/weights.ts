/**
 * Seeded random weights. Each tensor draws from its own PRNG stream keyed by (spec.seed, tensor name), so
 * tensors are independent of generation order and the bytes are identical on every run.
 *
 * Scales are chosen for verification, not for language: logits must spread widely (std across the vocab
 * ≈ LOGIT_STD, so backends that differ by ~1e-3 rarely flip an argmax) and the residual stream must stay
 * bounded across layers (residual-branch outputs are scaled by 1/sqrt(2·layers)).
 *
 * Matrices are stored [in, out] row-major, i.e. ready for `x @ W` (ONNX MatMul).
 *
 * With `spec.quantizeBits` the result is the seeded weights after quantize.ts, so the ONNX file and the
 * reference forward pass both see the model the folder actually holds.
 */
import { quantizeWeights } from './quantize.ts';
import type { LlamaSpec } from './specs.ts';
import { vocabSize } from './specs.ts';

/** Target standard deviation of logits across the vocabulary. */
export const LOGIT_STD = 4;
/** Standard deviation of RMSNorm weights around 1. */
const NORM_WEIGHT_STD = 0.1;

export interface LayerWeights {
  readonly inputNorm: Float32Array; // [hidden]
  readonly qProj: Float32Array; // [hidden, heads*headDim]
  readonly kProj: Float32Array; // [hidden, kvHeads*headDim]
  readonly vProj: Float32Array; // [hidden, kvHeads*headDim]
  readonly oProj: Float32Array; // [heads*headDim, hidden]
  readonly postAttentionNorm: Float32Array; // [hidden]
  readonly gateProj: Float32Array; // [hidden, intermediate]
  readonly upProj: Float32Array; // [hidden, intermediate]
  readonly downProj: Float32Array; // [intermediate, hidden]
}

export interface LlamaWeights {
  readonly embedTokens: Float32Array; // [vocab, hidden]
  readonly layers: readonly LayerWeights[];
  readonly finalNorm: Float32Array; // [hidden]
  readonly lmHead: Float32Array; // [hidden, vocab]
}

/** mulberry32: uniform in [0, 1) with 2^32 period; small, fast and exactly reproducible. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seed of one tensor's stream: 32-bit FNV-1a over the UTF-16 code units of `${seed}/${name}`. */
export function streamSeed(seed: number, name: string): number {
  const key = `${seed}/${name}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** `count` samples of N(mean, std²) rounded to float32 (Box–Muller, both outputs used). */
export function gaussian(seed: number, name: string, count: number, std: number, mean = 0): Float32Array {
  const next = mulberry32(streamSeed(seed, name));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - next()));
    const theta = 2 * Math.PI * next();
    out[i] = mean + std * r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = mean + std * r * Math.sin(theta);
  }
  return out;
}

export function makeWeights(spec: LlamaSpec): LlamaWeights {
  const h = spec.hiddenSize;
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  const ff = spec.intermediateSize;
  const v = vocabSize(spec);
  const residualScale = 1 / Math.sqrt(2 * spec.numLayers);
  const g = (name: string, count: number, std: number, mean = 0) => gaussian(spec.seed, name, count, std, mean);
  const layers = Array.from({ length: spec.numLayers }, (_, i): LayerWeights => {
    const p = `model.layers.${i}`;
    return {
      inputNorm: g(`${p}.input_layernorm.weight`, h, NORM_WEIGHT_STD, 1),
      qProj: g(`${p}.self_attn.q_proj.weight`, h * q, 1 / Math.sqrt(h)),
      kProj: g(`${p}.self_attn.k_proj.weight`, h * kv, 1 / Math.sqrt(h)),
      vProj: g(`${p}.self_attn.v_proj.weight`, h * kv, 1 / Math.sqrt(h)),
      oProj: g(`${p}.self_attn.o_proj.weight`, q * h, residualScale / Math.sqrt(q)),
      postAttentionNorm: g(`${p}.post_attention_layernorm.weight`, h, NORM_WEIGHT_STD, 1),
      gateProj: g(`${p}.mlp.gate_proj.weight`, h * ff, 1 / Math.sqrt(h)),
      upProj: g(`${p}.mlp.up_proj.weight`, h * ff, 1 / Math.sqrt(h)),
      downProj: g(`${p}.mlp.down_proj.weight`, ff * h, residualScale / Math.sqrt(ff)),
    };
  });
  const weights: LlamaWeights = {
    embedTokens: g('model.embed_tokens.weight', v * h, 1),
    layers,
    finalNorm: g('model.norm.weight', h, NORM_WEIGHT_STD, 1),
    lmHead: g('lm_head.weight', h * v, LOGIT_STD / Math.sqrt(h)),
  };
  if (spec.quantizeBits === undefined) return weights;
  return quantizeWeights(weights, { hidden: h, q, kv, ff, vocab: v }, spec.quantizeBits);
}

/** HF rotary tables: row p is cos/sin(p · inv_freq) for inv_freq duplicated over both halves. */
export function ropeTables(spec: LlamaSpec): { cos: Float32Array; sin: Float32Array } {
  const d = spec.headDim;
  const half = d / 2;
  const cos = new Float32Array(spec.maxPositions * d);
  const sin = new Float32Array(spec.maxPositions * d);
  for (let p = 0; p < spec.maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p / Math.pow(spec.ropeTheta, (2 * i) / d);
      cos[p * d + i] = cos[p * d + i + half] = Math.cos(angle);
      sin[p * d + i] = sin[p * d + i + half] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
