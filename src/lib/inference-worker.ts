/**
 * The page's handle on the inference Web Worker: `InferenceWorkerApi` over comlink, with every value that comes
 * back from the worker (device report, load progress and result, token batches, run result) checked against its
 * schema in src/protocol/worker.ts. Callbacks are plain functions here; this module proxies them.
 */
import * as Comlink from 'comlink';
import {
  checkedWorkerValue,
  deviceReportSchema,
  loadProgressSchema,
  loadResultSchema,
  tokenBatchSchema,
  workerResultSchema,
  type InferenceWorkerApi,
} from '../protocol/worker.ts';

export type InferenceWorker = InferenceWorkerApi;

export function startInferenceWorker(): { api: InferenceWorker; terminate: () => void } {
  const worker = new Worker(new URL('../../worker/inference-worker.ts', import.meta.url), { type: 'module', name: 'dolphin-inference' });
  const remote = Comlink.wrap<InferenceWorkerApi>(worker);
  const api: InferenceWorker = {
    probeDevice: async () => checkedWorkerValue(deviceReportSchema, await remote.probeDevice(), 'device report'),
    load: async (request, onProgress) => {
      const progress = onProgress ? Comlink.proxy((p: unknown) => onProgress(checkedWorkerValue(loadProgressSchema, p, 'load progress'))) : undefined;
      return checkedWorkerValue(loadResultSchema, await remote.load(request, progress), 'load result');
    },
    run: async (jobId, task, onTokens) => {
      // A malformed batch is not passed on; the run then fails with it (the caller never waits for tokens it lost).
      let invalid: Error | null = null;
      const result = await remote.run(
        jobId,
        task,
        Comlink.proxy((batch: unknown) => {
          if (invalid) return;
          try {
            onTokens(checkedWorkerValue(tokenBatchSchema, batch, 'token batch'));
          } catch (error) {
            invalid = error as Error;
          }
        }),
      );
      if (invalid) throw invalid;
      return checkedWorkerValue(workerResultSchema, result, 'run result');
    },
    cancel: (jobId) => remote.cancel(jobId),
  };
  return { api, terminate: () => worker.terminate() };
}
