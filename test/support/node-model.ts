/**
 * Loads a generated model from disk into the same runtime the browser worker uses, on onnxruntime-node (CPU) or
 * onnxruntime-web (wasm) in Node. Used for reference generations in tests and as the CPU baseline in benchmarks.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readModelBundle } from '../../worker/models/model-bundle.ts';
import { loadModel, type LoadedModel } from '../../worker/runtime.ts';
import type { OrtRuntime } from '../../worker/engine/onnx.ts';

export const MODELS_DIR = resolve(process.env.MODELS_DIR ?? 'models');

export async function loadNodeModel(id: string, runtime: 'onnxruntime-node' | 'onnxruntime-web' = 'onnxruntime-node', options: { cpuThreads?: number } = {}): Promise<LoadedModel> {
  const bundle = await readModelBundle(id, async (path) => new Uint8Array(await readFile(join(MODELS_DIR, id, path))));
  if (runtime === 'onnxruntime-node') {
    const ort = (await import('onnxruntime-node')) as unknown as OrtRuntime;
    return loadModel(bundle, ort, 'cpu', options);
  }
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  return loadModel(bundle, ort, 'wasm');
}
