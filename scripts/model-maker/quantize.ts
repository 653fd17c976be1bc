/**
 * Group-wise symmetric quantisation, dequantised back to float32 ("fake quantisation"): what a cheaper copy of a
 * model looks like to whoever runs it, with the same graph and file format as the original.
 *
 * Contract, per group of QUANT_GROUP_SIZE consecutive entries along a matrix's input dimension (the last group of
 * a line may be shorter): scale = fround(max|w| / (2^(bits-1) - 1)); each entry becomes fround(q · scale) with
 * q = round(w / scale), an integer in [-(2^(bits-1) - 1), 2^(bits-1) - 1]. So a group holds at most 2^bits - 1
 * distinct values and every entry moves by at most half a step (scale / 2, up to float32 rounding). An all-zero
 * group stays zero. The norm vectors are left alone (they are not matmul weights).
 */
import type { LayerWeights, LlamaWeights } from './weights.ts';

/** Entries per group, as in common 4-bit formats (GGUF Q4_0, GPTQ/AWQ use 32–128). */
export const QUANT_GROUP_SIZE = 32;

/**
 * How a flat row-major array splits into lines along which groups are cut: line `l` is the entries
 * `l * lineStride + t * elementStride` for t in [0, length).
 */
export interface QuantLines {
  readonly count: number;
  readonly length: number;
  readonly lineStride: number;
  readonly elementStride: number;
}

/** A [in, out] matrix used as `x @ W`: groups run down each column, along the input dimension. */
export function alongInput(inDim: number, outDim: number): QuantLines {
  return { count: outDim, length: inDim, lineStride: 1, elementStride: outDim };
}

/** A [rows, cols] table read by row (the embedding): groups run along each row. */
export function alongRows(rows: number, cols: number): QuantLines {
  return { count: rows, length: cols, lineStride: cols, elementStride: 1 };
}

/** Returns a quantised copy of `w`; `w` is not modified. */
export function quantizeGroups(w: Float32Array, lines: QuantLines, bits: number, groupSize = QUANT_GROUP_SIZE): Float32Array {
  if (lines.count * lines.length !== w.length) throw new Error(`quantize: ${lines.count}×${lines.length} lines ≠ ${w.length} entries`);
  const maxLevel = 2 ** (bits - 1) - 1;
  const out = new Float32Array(w.length);
  for (let line = 0; line < lines.count; line++) {
    const base = line * lines.lineStride;
    for (let start = 0; start < lines.length; start += groupSize) {
      const end = Math.min(start + groupSize, lines.length);
      let maxAbs = 0;
      for (let t = start; t < end; t++) maxAbs = Math.max(maxAbs, Math.abs(w[base + t * lines.elementStride]!));
      if (maxAbs === 0) continue; // out is already zero
      const scale = Math.fround(maxAbs / maxLevel);
      for (let t = start; t < end; t++) {
        const i = base + t * lines.elementStride;
        const q = Math.max(-maxLevel, Math.min(maxLevel, Math.round(w[i]! / scale)));
        out[i] = q * scale; // Float32Array rounds to float32
      }
    }
  }
  return out;
}

/** Quantises every matrix of a Llama's weights; shapes as documented in weights.ts. */
export function quantizeWeights(
  w: LlamaWeights,
  dims: { hidden: number; q: number; kv: number; ff: number; vocab: number },
  bits: number,
): LlamaWeights {
  const { hidden: h, q, kv, ff, vocab } = dims;
  const mat = (t: Float32Array, inDim: number, outDim: number) => quantizeGroups(t, alongInput(inDim, outDim), bits);
  return {
    embedTokens: quantizeGroups(w.embedTokens, alongRows(vocab, h), bits),
    layers: w.layers.map((l): LayerWeights => ({
      inputNorm: l.inputNorm,
      qProj: mat(l.qProj, h, q),
      kProj: mat(l.kProj, h, kv),
      vProj: mat(l.vProj, h, kv),
      oProj: mat(l.oProj, q, h),
      postAttentionNorm: l.postAttentionNorm,
      gateProj: mat(l.gateProj, h, ff),
      upProj: mat(l.upProj, h, ff),
      downProj: mat(l.downProj, ff, h),
    })),
    finalNorm: w.finalNorm,
    lmHead: mat(w.lmHead, h, vocab),
  };
}
