/**
 * The page <-> inference Web Worker interface, called through comlink (which carries the calls as structured
 * clones and rethrows errors as Error objects on the calling side). Callbacks must be wrapped in `Comlink.proxy`.
 */
import type { AdapterInfo, AdapterLimits, Backend, SamplingParams } from './tab.ts';
import type { PlainMessage } from './api.ts';

export type BackendChoice = Backend | 'auto';

export interface DeviceReport {
  webgpu: boolean;
  adapter: AdapterInfo | null;
  limits: AdapterLimits | null;
  /** Why WebGPU is unavailable, when it is. */
  reason: string | null;
  crossOriginIsolated: boolean;
}

export interface LoadProgress {
  modelId: string;
  loadedBytes: number;
  totalBytes: number;
  cachedBytes: number;
}

export interface LoadRequest {
  baseUrl: string;
  modelId: string;
  backend: BackendChoice;
  /**
   * Threads for WASM inference (needs cross-origin isolation). Only the first load in a worker can set it:
   * onnxruntime-web fixes its thread pool when it starts. Default: onnxruntime-web's (half the cores, at most 4).
   */
  wasmThreads?: number;
}

export interface LoadResult {
  modelId: string;
  backend: Backend;
  /** Threads onnxruntime-web's WASM backend runs with. */
  wasmThreads: number;
  /** Bytes served from the Cache API instead of the network. */
  cachedBytes: number;
  totalBytes: number;
  loadMs: number;
}

export interface WorkerToken {
  index: number;
  id: number;
  text: string;
  bytes: number[];
  logprob: number;
  top: Array<{ id: number; text: string; bytes: number[]; logprob: number }>;
  delta: string;
}

export interface WorkerResult {
  /**
   * How many tokens `onTokens` delivered. Callbacks travel on their own comlink port, so the result can overtake
   * the last of them: the caller must wait until it has seen this many before treating the job as complete.
   */
  tokenEvents: number;
  finishReason: 'stop' | 'length';
  tailText: string;
  text: string;
  promptTokens: number;
  completionTokens: number;
}

/** `run` rejects with an Error whose `name` is a `TaskFailureCode` (comlink keeps name and message). */
export { TASK_FAILURE_CODES, type TaskFailureCode } from './tab.ts';

export interface InferenceWorkerApi {
  probeDevice(): Promise<DeviceReport>;
  load(request: LoadRequest, onProgress?: (p: LoadProgress) => void): Promise<LoadResult>;
  /**
   * Runs a chat task on the loaded model, one task at a time. `onTokens` receives the tokens in order: the first
   * at once, later ones batched when they come faster than every `TOKEN_BATCH_MS`.
   */
  run(jobId: string, task: { model: string; messages: PlainMessage[]; params: SamplingParams }, onTokens: (tokens: WorkerToken[]) => void): Promise<WorkerResult>;
  /** Stops a running or queued job; its `run` call rejects with name 'cancelled'. Unknown ids are ignored. */
  cancel(jobId: string): void;
}
