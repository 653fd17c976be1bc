/** Everything in a model folder except the manifest, built in memory. */
import { generationConfig, modelConfig } from './hf-config.ts';
import { buildLlamaGraph } from './llama-graph.ts';
import { encodeModel } from './onnx-writer.ts';
import type { LlamaSpec } from './specs.ts';
import { validateSpec } from './specs.ts';
import { buildTokenizer } from './tokenizer-builder.ts';
import { makeWeights } from './weights.ts';

export interface ModelFile {
  /** Path inside the model folder, '/'-separated. */
  readonly path: string;
  readonly bytes: Uint8Array;
}

export const ONNX_OPSET = 17;
const ONNX_IR_VERSION = 8; // the IR version that introduced opset 17

export function buildModelFiles(spec: LlamaSpec): ModelFile[] {
  validateSpec(spec);
  const onnx = encodeModel(buildLlamaGraph(spec, makeWeights(spec)), {
    irVersion: ONNX_IR_VERSION,
    opsetVersion: ONNX_OPSET,
    producerName: 'dolphin-model-maker',
    producerVersion: '1',
    docString: `${spec.id}: Llama with seeded random weights (seed ${spec.seed}${spec.quantizeBits ? `, rounded to ${spec.quantizeBits} bits` : ''}), for testing only`,
  });
  const tokenizer = buildTokenizer(spec);
  return [
    { path: 'onnx/model.onnx', bytes: onnx },
    jsonFile('config.json', modelConfig(spec)),
    jsonFile('generation_config.json', generationConfig(spec)),
    { path: 'tokenizer.json', bytes: new TextEncoder().encode(tokenizer.tokenizerJson) },
    jsonFile('tokenizer_config.json', tokenizer.tokenizerConfig),
  ];
}

export function jsonFile(path: string, value: unknown): ModelFile {
  return { path, bytes: new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n') };
}
