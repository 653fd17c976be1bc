/// <reference lib="webworker" />
/**
 * Entry point of the contributor's inference Web Worker: exposes `InferenceWorkerApi` to the page via comlink.
 * One model is loaded at a time; jobs run one after another, in the order they came. A job for another model loads
 * that model first (from the same place and on the same backend as the last `load`) when its caller allows it.
 */
import * as Comlink from 'comlink';
import * as ort from 'onnxruntime-web';
import {
  chatTaskSchema,
  cheatModeSchema,
  checkedWorkerValue,
  loadRequestSchema,
  rescoreRequestSchema,
  TASK_FAILURE_CODES,
  type BackendChoice,
  type DeviceReport,
  type InferenceWorkerApi,
  type LoadProgress,
  type LoadRequest,
  type LoadResult,
  type TaskFailureCode,
  type WorkerToken,
} from '../src/protocol/worker.ts';
import { GenerationError } from './generate.ts';
import { MAX_TOKENS_PER_MESSAGE, TOKEN_BATCH_MS, type Backend } from '../src/protocol/tab.ts';
import { downloadModel, MODEL_CACHE_NAME } from './models/model-download.ts';
import { loadModel, runChatTask, type LoadedModel } from './runtime.ts';
import { wasmThreadCount } from './wasm-threads.ts';
import { rescore } from './verify/rescore.ts';
import type { Cheat } from './cheats.ts';

// onnxruntime-web fetches its .wasm (and thread workers) from here; the coordinator serves its dist/ folder.
ort.env.wasm.wasmPaths = `${self.location.origin}/ort/`;

let adapterPromise: Promise<GPUAdapter | null> | null = null;
const requestAdapter = () => (adapterPromise ??= navigator.gpu ? navigator.gpu.requestAdapter().catch(() => null) : Promise.resolve(null));

/** `folder`: the model folder downloaded, which only a cheat makes differ from the model's id. */
let loaded: { model: LoadedModel; backend: Backend; info: LoadResult; folder: string } | null = null;
/** The last `load`'s request: where an on-demand load fetches another model from, and on which backend. */
let lastLoad: LoadRequest | null = null;
/** How this tab cheats (issue #4); only `setCheat` in a test-hooks build sets it. */
let cheat: Cheat | null = null;
const running = new Map<string, AbortController>();
/**
 * Loads and tasks run one at a time, in call order: an onnxruntime session takes no concurrent runs, and a model
 * must not be disposed while a (cancelled) task is still inside `session.run`.
 */
let queue: Promise<unknown> = Promise.resolve();
function serially<T>(work: () => Promise<T>): Promise<T> {
  const turn = queue.then(work);
  queue = turn.catch(() => {});
  return turn;
}

function taskFailure(code: TaskFailureCode, message: string): Error {
  return Object.assign(new Error(message), { name: code });
}

function asTaskFailure(error: unknown, signal: AbortSignal): Error {
  if (error instanceof Error && (TASK_FAILURE_CODES as readonly string[]).includes(error.name)) return error;
  if (signal.aborted) return taskFailure('cancelled', 'the job was cancelled');
  if (error instanceof GenerationError) return taskFailure(error.code, error.message);
  return taskFailure('worker_error', error instanceof Error ? error.message : String(error));
}

async function probeDevice(): Promise<DeviceReport> {
  const base = { crossOriginIsolated: self.crossOriginIsolated };
  if (!navigator.gpu) return { ...base, webgpu: false, adapter: null, limits: null, reason: 'this browser has no WebGPU (navigator.gpu is missing)' };
  const adapter = await requestAdapter();
  if (!adapter) return { ...base, webgpu: false, adapter: null, limits: null, reason: 'no WebGPU adapter is available' };
  const info = adapter.info;
  return {
    ...base,
    webgpu: true,
    adapter: {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      // A software adapter (SwiftShader) is slow but correct; report it, never reject it.
      isFallbackAdapter: (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    },
    limits: { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize },
    reason: null,
  };
}

async function chooseBackend(choice: BackendChoice): Promise<Backend> {
  if (choice === 'wasm') return 'wasm';
  const adapter = await requestAdapter();
  if (adapter) {
    // onnxruntime-web makes this read-only once its WebGPU backend started: set it only the first time (a later
    // load, e.g. of another model, would throw).
    if (ort.env.webgpu.adapter !== adapter) ort.env.webgpu.adapter = adapter;
    return 'webgpu';
  }
  if (choice === 'webgpu') throw new Error('WebGPU was requested but no WebGPU adapter is available');
  return 'wasm';
}

/**
 * Downloads (or reads from the Cache API) and loads a model, replacing the one loaded. Call only in a serial turn.
 * Aborted by `signal` before the new engine exists, the one loaded stays.
 */
async function loadNow(request: LoadRequest, onProgress?: (p: LoadProgress) => void, signal?: AbortSignal): Promise<LoadResult> {
  const { baseUrl, modelId, backend: choice, wasmThreads } = request;
  const started = performance.now();
  // onnxruntime-web reads numThreads once, when its WASM module starts (the first load).
  if (!loaded) ort.env.wasm.numThreads = wasmThreadCount({ requested: wasmThreads, hardwareConcurrency: navigator.hardwareConcurrency, crossOriginIsolated: self.crossOriginIsolated });
  const backend = await chooseBackend(choice);
  const folder = cheat?.modelFolder(modelId) ?? modelId;
  lastLoad = request;
  if (loaded?.model.id === modelId && loaded.folder === folder && loaded.backend === backend) return { ...loaded.info, loadMs: performance.now() - started };
  const cache = 'caches' in self ? await caches.open(MODEL_CACHE_NAME) : null;
  let progress = { cachedBytes: 0, totalBytes: 0 };
  const bundle = await downloadModel({
    baseUrl,
    modelId: folder,
    cache,
    ...(signal ? { signal } : {}),
    onProgress: (p) => {
      progress = p;
      onProgress?.({ ...p, modelId });
    },
  });
  signal?.throwIfAborted();
  // Served as the model asked for, whichever folder a cheat loaded.
  const model = { ...(await loadModel(bundle, ort, backend)), id: modelId };
  const threads = ort.env.wasm.numThreads ?? 1;
  const info = { modelId, backend, wasmThreads: threads, cachedBytes: progress.cachedBytes, totalBytes: progress.totalBytes, loadMs: performance.now() - started };
  // The old engine is released once the new one is ready: both hold memory while a model switches.
  await loaded?.model.engine.dispose();
  loaded = { model, backend, info, folder };
  return info;
}

/**
 * Loads `model` for a task (or a re-scoring) that needs it, as the last `load` did its model, when the caller allows
 * it (`onLoad`); a load that fails is `model_not_loaded`, naming why.
 */
async function loadOnDemand(model: string, onLoad: ((p: LoadProgress) => void) | undefined, signal?: AbortSignal): Promise<void> {
  if (!onLoad || !lastLoad) throw taskFailure('model_not_loaded', `model ${model} is not loaded in this tab`);
  try {
    await loadNow({ ...lastLoad, modelId: model }, (p) => void onLoad(p), signal);
  } catch (error) {
    if (signal?.aborted) throw error;
    throw taskFailure('model_not_loaded', `could not load model ${model}: ${error instanceof Error ? error.message : String(error)}`);
  }
  signal?.throwIfAborted();
}

const api: InferenceWorkerApi = {
  probeDevice,

  load: (request, onProgress) => serially(() => loadNow(checkedWorkerValue(loadRequestSchema, request, 'load request'), onProgress)),

  async run(jobId, untrustedTask, onTokens, onLoad) {
    if (typeof jobId !== 'string' || jobId.length === 0 || jobId.length > 128) throw taskFailure('worker_error', 'invalid job id');
    const task = checkedWorkerValue(chatTaskSchema, untrustedTask, 'task');
    if (running.has(jobId)) throw taskFailure('worker_error', `job ${jobId} is already running`);
    const controller = new AbortController();
    running.set(jobId, controller);
    const turn = serially(async () => {
      controller.signal.throwIfAborted();
      if (!loaded || loaded.model.id !== task.model) await loadOnDemand(task.model, onLoad, controller.signal);
      const model = loaded;
      if (model?.model.id !== task.model) throw taskFailure('model_not_loaded', `model ${task.model} did not load in this tab`);
      let tokenEvents = 0;
      let batch: WorkerToken[] = [];
      let lastFlush = -Infinity;
      const flush = () => {
        if (!batch.length) return;
        void onTokens(batch);
        tokenEvents += batch.length;
        batch = [];
        lastFlush = performance.now();
      };
      const result = await (cheat?.runChatTask ?? runChatTask)(
        model.model,
        task,
        (t) => {
          batch.push(t);
          if (performance.now() - lastFlush >= TOKEN_BATCH_MS || batch.length >= MAX_TOKENS_PER_MESSAGE) flush();
        },
        controller.signal,
      );
      flush();
      return { ...result, tokenEvents };
    });
    try {
      return await turn;
    } catch (error) {
      throw asTaskFailure(error, controller.signal);
    } finally {
      running.delete(jobId);
    }
  },

  rescore: (untrusted, onLoad) =>
    serially(async () => {
      const { tolerances, ...claim } = checkedWorkerValue(rescoreRequestSchema, untrusted, 'rescore request');
      if (!loaded || loaded.model.id !== claim.model) await loadOnDemand(claim.model, onLoad);
      if (loaded?.model.id !== claim.model) throw taskFailure('model_not_loaded', `model ${claim.model} did not load in this tab`);
      return rescore(loaded.model, claim, tolerances);
    }),

  held: async () => loaded?.model.id ?? null,

  cancel(jobId) {
    running.get(jobId)?.abort();
  },

  setCheat: (mode) =>
    serially(async () => {
      // Vite replaces import.meta.env.MODE when it builds: outside test-hooks builds this branch, and with it
      // cheats.ts, is dropped.
      if (import.meta.env.MODE === 'test-hooks') {
        const checked = checkedWorkerValue(cheatModeSchema.nullable(), mode, 'cheat mode');
        cheat = checked ? (await import('./cheats.ts')).createCheat(checked) : null;
        return;
      }
      throw taskFailure('worker_error', 'cheating modes exist only in test-hooks builds');
    }),
};

Comlink.expose(api);
