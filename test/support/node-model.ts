/**
 * Loads a generated model from disk into the same runtime the browser worker uses, on onnxruntime-node (CPU) or
 * onnxruntime-web (wasm) in Node. Used for reference generations in tests and as the CPU baseline in benchmarks.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { readModelBundle } from '../../worker/models/model-bundle.ts';
import { loadModel, type LoadedModel } from '../../worker/runtime.ts';
import type { OrtRuntime } from '../../worker/engine/onnx.ts';

/** Where models are looked for, in order: `MODELS_DIR` as the coordinator reads it (a `path.delimiter` list). */
export const MODELS_DIRS: readonly string[] = (process.env.MODELS_DIR ?? ['models', 'test-models'].join(delimiter))
  .split(delimiter)
  .filter((dir) => dir !== '')
  .map((dir) => resolve(dir));
/** The first models directory (the served models, `models/`, by default). */
export const MODELS_DIR = MODELS_DIRS[0] ?? resolve('models');

/** The folder of model `id`: the first `<dir>/<id>` with a manifest.json, in MODELS_DIRS order. */
export function modelDir(id: string): string {
  const found = MODELS_DIRS.map((dir) => join(dir, id)).find((dir) => existsSync(join(dir, 'manifest.json')));
  if (!found) throw new Error(`model ${id} not found in ${MODELS_DIRS.join(delimiter)}; run \`npm run models\``);
  return found;
}

export async function loadNodeModel(id: string, runtime: 'onnxruntime-node' | 'onnxruntime-web' = 'onnxruntime-node', options: { cpuThreads?: number } = {}): Promise<LoadedModel> {
  const dir = modelDir(id);
  const bundle = await readModelBundle(id, async (path) => new Uint8Array(await readFile(join(dir, path))));
  if (runtime === 'onnxruntime-node') {
    const ort = (await import('onnxruntime-node')) as unknown as OrtRuntime;
    return loadModel(bundle, ort, 'cpu', options);
  }
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  return loadModel(bundle, ort, 'wasm');
}
