/**
 * The onnxruntime engine over a decoder exported in optimum's "with past" format (input_ids, attention_mask,
 * position_ids, past_key_values.{i}.key|value -> logits, present.{i}.key|value). The same code runs on
 * onnxruntime-web (WebGPU or WASM provider) in the browser and on onnxruntime-web or onnxruntime-node in Node:
 * the runtime module is passed in.
 */
import type * as OrtWeb from 'onnxruntime-web';
import type { DecoderSequence, Engine, EngineBackend } from './engine.ts';
import { headDim, type LlamaConfig } from '../models/model-bundle.ts';

/** The part of an onnxruntime module this engine uses; onnxruntime-web and onnxruntime-node both satisfy it. */
export type OrtRuntime = Pick<typeof OrtWeb, 'InferenceSession' | 'Tensor'>;
type Tensor = OrtWeb.Tensor;

export interface OnnxEngineOptions {
  ort: OrtRuntime;
  model: Uint8Array;
  config: LlamaConfig;
  /** onnxruntime execution provider name: 'webgpu' | 'wasm' | 'cpu'. */
  backend: EngineBackend;
  /** Intra-op threads for the native CPU provider (onnxruntime-node); its default is one per core. */
  cpuThreads?: number;
}

export async function createOnnxEngine({ ort, model, config, backend, cpuThreads }: OnnxEngineOptions): Promise<Engine> {
  const layers = config.num_hidden_layers;
  const kvNames = Array.from({ length: layers }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat();
  // On WebGPU the KV cache stays on the GPU between steps; only logits come back to the CPU.
  const onGpu = backend === 'webgpu';
  const session = await ort.InferenceSession.create(model, {
    executionProviders: [backend],
    graphOptimizationLevel: 'all',
    ...(backend === 'cpu' && cpuThreads ? { intraOpNumThreads: cpuThreads } : {}),
    ...(onGpu ? { preferredOutputLocation: Object.fromEntries(kvNames.map((n) => [n, 'gpu-buffer' as const])) } : {}),
  });
  const kvShape = [1, config.num_key_value_heads, 0, headDim(config)];
  const int64 = (values: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [1, values.length]);

  function startSequence(): DecoderSequence {
    let past: Tensor[] = kvNames.map(() => new ort.Tensor('float32', new Float32Array(0), kvShape));
    let length = 0;
    let busy = false;
    let disposed = false;
    const release = (tensors: Tensor[]) => {
      if (onGpu) for (const t of tensors) if (t.location === 'gpu-buffer') t.dispose();
    };
    return {
      get length() {
        return length;
      },
      async extend(tokenIds) {
        const logits = await feed(tokenIds);
        return logits.slice(logits.length - config.vocab_size);
      },
      async extendAll(tokenIds) {
        const logits = await feed(tokenIds);
        return tokenIds.map((_, i) => logits.slice(i * config.vocab_size, (i + 1) * config.vocab_size));
      },
      dispose() {
        if (disposed) return;
        disposed = true;
        release(past);
        past = [];
      },
    };

    /** Runs the decoder on `tokenIds` after what was fed before; resolves to the logits of all of them, flat. */
    async function feed(tokenIds: readonly number[]): Promise<Float32Array> {
      if (busy) throw new Error('DecoderSequence.extend called while a previous call is running');
      if (disposed) throw new Error('DecoderSequence used after dispose');
      if (tokenIds.length === 0) throw new Error('extend needs at least one token');
      if (length + tokenIds.length > config.max_position_embeddings)
        throw new Error(`sequence of ${length + tokenIds.length} tokens exceeds the model's ${config.max_position_embeddings}`);
      busy = true;
      try {
        const feeds: Record<string, Tensor> = {
          input_ids: int64([...tokenIds]),
          attention_mask: int64(new Array(length + tokenIds.length).fill(1)),
          position_ids: int64(tokenIds.map((_, i) => length + i)),
        };
        for (let i = 0; i < layers; i++) {
          feeds[`past_key_values.${i}.key`] = past[2 * i] as Tensor;
          feeds[`past_key_values.${i}.value`] = past[2 * i + 1] as Tensor;
        }
        const out = await session.run(feeds);
        release(past);
        past = kvNames.map((n) => out[n] as Tensor);
        length += tokenIds.length;
        return (out['logits'] as Tensor).data as Float32Array;
      } finally {
        busy = false;
      }
    }
  }

  return {
    backend,
    vocabSize: config.vocab_size,
    maxPositions: config.max_position_embeddings,
    startSequence,
    dispose: () => session.release(),
  };
}
