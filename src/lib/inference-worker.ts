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
  rescoreVerdictSchema,
  tokenBatchSchema,
  workerResultSchema,
  type InferenceWorkerApi,
  type LoadProgress,
} from '../protocol/worker.ts';

export type InferenceWorker = InferenceWorkerApi;

/** How long to wait, after the result, for token batches still on their way. */
const CALLBACK_GRACE_MS = 10_000;

/** An on-demand load's progress callback for the worker; a malformed report is dropped (it only informs). */
function progressProxy(onLoad: ((progress: LoadProgress) => void) | undefined) {
  return onLoad
    ? Comlink.proxy((p: unknown) => {
        const parsed = loadProgressSchema.safeParse(p);
        if (parsed.success) onLoad(parsed.data);
      })
    : undefined;
}

export function startInferenceWorker(): { api: InferenceWorker; terminate: () => void } {
  const worker = new Worker(new URL('../../worker/inference-worker.ts', import.meta.url), { type: 'module', name: 'dolphin-inference' });
  const remote = Comlink.wrap<InferenceWorkerApi>(worker);
  const api: InferenceWorker = {
    probeDevice: async () => checkedWorkerValue(deviceReportSchema, await remote.probeDevice(), 'device report'),
    load: async (request, onProgress) => {
      const progress = onProgress ? Comlink.proxy((p: unknown) => onProgress(checkedWorkerValue(loadProgressSchema, p, 'load progress'))) : undefined;
      return checkedWorkerValue(loadResultSchema, await remote.load(request, progress), 'load result');
    },
    // Resolves only after every token batch reached `onTokens`: comlink delivers callbacks on their own port, so the
    // result can overtake the last batches. A malformed batch is not passed on, and the run then fails with it.
    run: async (jobId, task, onTokens, onLoad) => {
      const loadProgress = progressProxy(onLoad);
      let invalid: Error | null = null;
      let seen = 0;
      let wake = () => {};
      const result = checkedWorkerValue(
        workerResultSchema,
        await remote.run(
          jobId,
          task,
          Comlink.proxy((batch: unknown) => {
            seen += Array.isArray(batch) ? batch.length : 1;
            wake();
            if (invalid) return;
            try {
              onTokens(checkedWorkerValue(tokenBatchSchema, batch, 'token batch'));
            } catch (error) {
              invalid = error as Error;
            }
          }),
          loadProgress,
        ),
        'run result',
      );
      const deadline = performance.now() + CALLBACK_GRACE_MS;
      while (seen < result.tokenEvents && !invalid && performance.now() < deadline) await new Promise<void>((resolve) => ((wake = resolve), setTimeout(resolve, 100)));
      if (invalid) throw invalid;
      if (seen < result.tokenEvents) throw Object.assign(new Error(`the worker reported ${result.tokenEvents} tokens and delivered ${seen}`), { name: 'worker_error' });
      return result;
    },
    rescore: async (request, onLoad) => checkedWorkerValue(rescoreVerdictSchema, await remote.rescore(request, progressProxy(onLoad)), 'rescore verdict'),
    held: async () => {
      const model = await remote.held();
      return typeof model === 'string' ? model : null;
    },
    cancel: (jobId) => remote.cancel(jobId),
    setCheat: (mode) => remote.setCheat(mode),
  };
  return { api, terminate: () => worker.terminate() };
}
