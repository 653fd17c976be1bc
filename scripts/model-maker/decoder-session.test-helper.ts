/** Test helper: run a generated decoder with onnxruntime (node or web) in the optimum I/O format. */
import type * as OrtNode from 'onnxruntime-node';
import { buildModelFiles } from './model-files.ts';
import type { LlamaSpec } from './specs.ts';

/** onnxruntime-node and onnxruntime-web share this API (both re-export onnxruntime-common). */
type Ort = Pick<typeof OrtNode, 'Tensor'>;
export type Tensor = OrtNode.Tensor;
export type Session = OrtNode.InferenceSession;

export function onnxBytes(spec: LlamaSpec): Uint8Array {
  const file = buildModelFiles(spec).find((f) => f.path === 'onnx/model.onnx');
  if (!file) throw new Error('no onnx/model.onnx');
  return file.bytes;
}

export interface DecoderStep {
  /** [batch][seq] */
  readonly inputIds: readonly (readonly number[])[];
  /** [batch][past + seq] */
  readonly attentionMask: readonly (readonly number[])[];
  /** [batch][seq]; defaults to past..past+seq-1 for every row. */
  readonly positionIds?: readonly (readonly number[])[];
  /** `present.*` outputs of the previous step; omitted means an empty past. */
  readonly past?: Readonly<Record<string, Tensor>>;
}

export interface DecoderOutput {
  /** Row-major [batch, seq, vocab]. */
  readonly logits: Float32Array;
  readonly present: Record<string, Tensor>;
}

export async function runDecoder(
  ort: Ort,
  session: Session,
  spec: LlamaSpec,
  step: DecoderStep,
): Promise<DecoderOutput> {
  const batch = step.inputIds.length;
  const seq = step.inputIds[0]?.length ?? 0;
  const total = step.attentionMask[0]?.length ?? 0;
  const pastLen = total - seq;
  const positions = step.positionIds ?? step.inputIds.map(() => Array.from({ length: seq }, (_, i) => pastLen + i));
  const int64 = (rows: readonly (readonly number[])[], width: number) =>
    new ort.Tensor(
      'int64',
      BigInt64Array.from(rows.flat(), (v) => BigInt(v)),
      [rows.length, width],
    );
  const feeds: Record<string, Tensor> = {
    input_ids: int64(step.inputIds, seq),
    attention_mask: int64(step.attentionMask, total),
    position_ids: int64(positions, seq),
  };
  for (let i = 0; i < spec.numLayers; i++) {
    for (const kind of ['key', 'value']) {
      feeds[`past_key_values.${i}.${kind}`] =
        step.past?.[`present.${i}.${kind}`] ??
        new ort.Tensor('float32', new Float32Array(0), [batch, spec.numKvHeads, 0, spec.headDim]);
    }
  }
  const out = await session.run(feeds);
  const { logits, ...present } = out;
  if (!logits) throw new Error('no logits output');
  return { logits: logits.data as Float32Array, present };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
