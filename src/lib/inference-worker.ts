/**
 * The page's handle on the inference Web Worker: a comlink proxy implementing `InferenceWorkerApi`.
 */
import * as Comlink from 'comlink';
import type { InferenceWorkerApi } from '../protocol/worker.ts';

export type InferenceWorker = Comlink.Remote<InferenceWorkerApi>;

export function startInferenceWorker(): { api: InferenceWorker; terminate: () => void } {
  const worker = new Worker(new URL('../../worker/inference-worker.ts', import.meta.url), { type: 'module', name: 'dolphin-inference' });
  return { api: Comlink.wrap<InferenceWorkerApi>(worker), terminate: () => worker.terminate() };
}

export { proxy } from 'comlink';
