/**
 * What a tab tells the scheduler of itself beyond its link (issue #6): its decode speed on a model, from a short
 * calibration run when the model loads, and which models its Cache API holds (a load without a download).
 */
import type { InferenceWorker } from './inference-worker.ts';
import { MODEL_CACHE_NAME } from '../../worker/models/model-download.ts';

/** Tokens the calibration run generates: enough to time, few enough to take about a second on a slow tab. */
export const CALIBRATION_TOKENS = 24;

/**
 * Tokens/s of the loaded model on this tab: a greedy run of CALIBRATION_TOKENS tokens after a short prompt, timed
 * whole (the prompt's prefill included, so it errs low). Null when it produced nothing to time.
 */
export async function calibrate(worker: Pick<InferenceWorker, 'run'>, model: string, now: () => number = () => performance.now()): Promise<number | null> {
  const started = now();
  const result = await worker.run(`calibration-${model}-${Math.round(started)}`, { model, messages: [{ role: 'user', content: 'Count from one to twenty.' }], params: { maxTokens: CALIBRATION_TOKENS, temperature: 0, topP: 1, topK: 0, stop: [], seed: 0, topLogprobs: 0 } }, () => {});
  const seconds = (now() - started) / 1000;
  return result.completionTokens > 0 && seconds > 0 ? result.completionTokens / seconds : null;
}

/** The models whose weights (`.onnx`) are in this browser's model cache (model-download.ts keys them by URL). */
export async function cachedModelIds(): Promise<string[]> {
  if (!('caches' in globalThis)) return [];
  const cache = await caches.open(MODEL_CACHE_NAME);
  const ids = new Set<string>();
  for (const request of await cache.keys()) {
    const match = /^\/models\/([^/]+)\/.+\.onnx$/.exec(new URL(request.url).pathname);
    if (match?.[1]) ids.add(decodeURIComponent(match[1]));
  }
  return [...ids].sort();
}
