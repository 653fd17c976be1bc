/**
 * The Llama decoder as an ONNX graph in optimum's "decoder with past" I/O format, opset 17, ai.onnx ops only
 * (runs on onnxruntime-web WebGPU and WASM). Inputs/outputs:
 *   input_ids, position_ids  int64 [batch_size, sequence_length]
 *   attention_mask           int64 [batch_size, total_sequence_length]      (total = past + sequence)
 *   past_key_values.{i}.key|value  float32 [batch_size, kv_heads, past_sequence_length, head_dim]
 *   logits                   float32 [batch_size, sequence_length, vocab]
 *   present.{i}.key|value    float32 [batch_size, kv_heads, total_sequence_length, head_dim]
 * Query i sits at absolute index past+i; key j is visible iff j <= past+i and attention_mask[b, j] == 1.
 * Rows with no visible key (left padding) get a uniform softmax, never NaN.
 */
import { GraphBuilder } from './graph-builder.ts';
import type { GraphDef } from './onnx-writer.ts';
import { ElemType } from './onnx-writer.ts';
import type { LlamaSpec } from './specs.ts';
import { vocabSize } from './specs.ts';
import type { LayerWeights, LlamaWeights } from './weights.ts';
import { ropeTables } from './weights.ts';

/** Score given to masked positions: finite, so fully masked rows stay finite. */
const MASKED_SCORE = -1e9;
const BATCH = 'batch_size';
const SEQ = 'sequence_length';
const PAST = 'past_sequence_length';
const TOTAL = 'total_sequence_length';

export function buildLlamaGraph(spec: LlamaSpec, weights: LlamaWeights): GraphDef {
  const g = new GraphBuilder();
  const { hiddenSize: h, numKvHeads: kvh, headDim: d } = spec;
  const vocab = vocabSize(spec);

  const inputIds = g.input('input_ids', ElemType.INT64, [BATCH, SEQ]);
  const attentionMask = g.input('attention_mask', ElemType.INT64, [BATCH, TOTAL]);
  const positionIds = g.input('position_ids', ElemType.INT64, [BATCH, SEQ]);
  const past = weights.layers.map((_, i) => ({
    key: g.input(`past_key_values.${i}.key`, ElemType.FLOAT, [BATCH, kvh, PAST, d]),
    value: g.input(`past_key_values.${i}.value`, ElemType.FLOAT, [BATCH, kvh, PAST, d]),
  }));

  g.scope = '/model';
  const embed = g.initializer('model.embed_tokens.weight', [vocab, h], weights.embedTokens);
  let x = g.op('Gather', [embed, inputIds], { axis: 0 });
  const rope = rotaryInputs(g, spec, positionIds);
  const allowed = attentionAllowed(g, inputIds, attentionMask);

  weights.layers.forEach((layer, i) => {
    g.scope = `/model/layers.${i}`;
    const pastKv = past[i]!;
    x = decoderLayer(g, spec, layer, i, x, rope, allowed, pastKv.key, pastKv.value);
  });

  g.scope = '/model';
  const finalNorm = g.initializer('model.norm.weight', [h], weights.finalNorm);
  const hn = rmsNorm(g, x, finalNorm, spec.rmsNormEps);
  const lmHead = g.initializer('lm_head.weight', [h, vocab], weights.lmHead);
  g.op('MatMul', [hn, lmHead], {}, 'logits');
  g.output('logits', ElemType.FLOAT, [BATCH, SEQ, vocab]);
  weights.layers.forEach((_, i) => {
    g.output(`present.${i}.key`, ElemType.FLOAT, [BATCH, kvh, TOTAL, d]);
    g.output(`present.${i}.value`, ElemType.FLOAT, [BATCH, kvh, TOTAL, d]);
  });
  return g.build(`${spec.id}`);
}

interface Rope {
  readonly cos: string; // [b, 1, s, d]
  readonly sin: string;
}

function rotaryInputs(g: GraphBuilder, spec: LlamaSpec, positionIds: string): Rope {
  const tables = ropeTables(spec);
  const dims = [spec.maxPositions, spec.headDim];
  const cosTable = g.initializer('model.rotary_emb.cos_cached', dims, tables.cos);
  const sinTable = g.initializer('model.rotary_emb.sin_cached', dims, tables.sin);
  const axis1 = g.int64([1]);
  const cos = g.op('Unsqueeze', [g.op('Gather', [cosTable, positionIds], { axis: 0 }), axis1]);
  const sin = g.op('Unsqueeze', [g.op('Gather', [sinTable, positionIds], { axis: 0 }), axis1]);
  return { cos, sin };
}

/** bool [b, 1, s, total]: causal (key j <= past + query i) AND attention_mask[b, j]. */
function attentionAllowed(g: GraphBuilder, inputIds: string, attentionMask: string): string {
  const axis0 = g.int64([0]);
  const seq = g.op('Shape', [inputIds], { start: 1, end: 2 });
  const total = g.op('Shape', [attentionMask], { start: 1, end: 2 });
  const pastLen = g.op('Squeeze', [g.op('Sub', [total, seq]), axis0]);
  const totalLen = g.op('Squeeze', [total, axis0]);
  const one = g.int64([1], []);
  const queryPos = g.op('Range', [pastLen, totalLen, one]); // [s]
  const keyPos = g.op('Range', [g.int64([0], []), totalLen, one]); // [total]
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [keyPos, axis0]), g.op('Unsqueeze', [queryPos, g.int64([1])])]);
  const padding = g.op('Unsqueeze', [g.op('Cast', [attentionMask], { to: ElemType.BOOL }), g.int64([1, 2])]);
  return g.op('And', [causal, padding]);
}

/** x * 1/sqrt(mean(x², last axis) + eps) * weight. */
function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  const meanSquare = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
  const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSquare, g.float(eps)])])]);
  return g.op('Mul', [g.op('Mul', [x, inv]), weight]);
}

/** x * cos + rotate_half(x) * sin, with rotate_half(x) = concat(-x[.., d/2:], x[.., :d/2]). */
function applyRope(g: GraphBuilder, x: string, rope: Rope, headDim: number): string {
  const half = headDim / 2;
  const [x1, x2] = g.opN('Split', [x, g.int64([half, half])], 2, { axis: -1 });
  const rotated = g.op('Concat', [g.op('Neg', [x2!]), x1!], { axis: -1 });
  return g.op('Add', [g.op('Mul', [x, rope.cos]), g.op('Mul', [rotated, rope.sin])]);
}

function decoderLayer(
  g: GraphBuilder,
  spec: LlamaSpec,
  w: LayerWeights,
  i: number,
  x: string,
  rope: Rope,
  allowed: string,
  pastKey: string,
  pastValue: string,
): string {
  const { hiddenSize: h, numHeads: nh, numKvHeads: kvh, headDim: d, intermediateSize: ff } = spec;
  const p = `model.layers.${i}`;
  const weight = (name: string, dims: number[], data: Float32Array) => g.initializer(`${p}.${name}`, dims, data);
  const toHeads = (t: string, heads: number) =>
    g.op('Transpose', [g.op('Reshape', [t, g.int64([0, 0, heads, d])])], { perm: [0, 2, 1, 3] });

  const hn = rmsNorm(g, x, weight('input_layernorm.weight', [h], w.inputNorm), spec.rmsNormEps);
  const q = toHeads(g.op('MatMul', [hn, weight('self_attn.q_proj.weight', [h, nh * d], w.qProj)]), nh);
  const k = toHeads(g.op('MatMul', [hn, weight('self_attn.k_proj.weight', [h, kvh * d], w.kProj)]), kvh);
  const v = toHeads(g.op('MatMul', [hn, weight('self_attn.v_proj.weight', [h, kvh * d], w.vProj)]), kvh);
  const qScaled = g.op('Mul', [applyRope(g, q, rope, d), g.float(1 / Math.sqrt(d))]);
  const key = g.op('Concat', [pastKey, applyRope(g, k, rope, d)], { axis: 2 }, `present.${i}.key`);
  const value = g.op('Concat', [pastValue, v], { axis: 2 }, `present.${i}.value`);

  // GQA without repeating K/V: query heads kv*group..kv*group+group-1 share kv head `kv`, so viewing
  // Q [b, nh, s, d] as [b, kvh, group*s, d] lines each group up with its K/V head.
  const groupedQ = g.op('Reshape', [qScaled, g.int64([0, kvh, -1, d])]);
  const keyT = g.op('Transpose', [key], { perm: [0, 1, 3, 2] });
  const scores = g.op('Reshape', [g.op('MatMul', [groupedQ, keyT]), g.int64([0, nh, -1, 0])]);
  const masked = g.op('Where', [allowed, scores, g.float(MASKED_SCORE)]);
  const probs = g.op('Reshape', [g.op('Softmax', [masked], { axis: -1 }), g.int64([0, kvh, -1, 0])]);
  const context = g.op('Reshape', [g.op('MatMul', [probs, value]), g.int64([0, nh, -1, d])]);
  const merged = g.op('Reshape', [g.op('Transpose', [context], { perm: [0, 2, 1, 3] }), g.int64([0, 0, nh * d])]);
  const attnOut = g.op('MatMul', [merged, weight('self_attn.o_proj.weight', [nh * d, h], w.oProj)]);
  const afterAttn = g.op('Add', [x, attnOut]);

  const hn2 = rmsNorm(
    g,
    afterAttn,
    weight('post_attention_layernorm.weight', [h], w.postAttentionNorm),
    spec.rmsNormEps,
  );
  const gate = g.op('MatMul', [hn2, weight('mlp.gate_proj.weight', [h, ff], w.gateProj)]);
  const up = g.op('MatMul', [hn2, weight('mlp.up_proj.weight', [h, ff], w.upProj)]);
  const silu = g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
  const down = g.op('MatMul', [g.op('Mul', [silu, up]), weight('mlp.down_proj.weight', [ff, h], w.downProj)]);
  return g.op('Add', [afterAttn, down]);
}
