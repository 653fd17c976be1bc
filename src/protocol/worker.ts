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
   * onnxruntime-web fixes its thread pool when it starts. Default: every logical core but one, at most 8 (worker/wasm-threads.ts).
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

/** A token on its own: its text (may hold U+FFFD when it is part of a multi-byte character) and exact bytes. */
export interface TokenPiece {
  text: string;
  bytes: number[];
}

/** One generated token, as the generation loop makes it and the worker hands it to the page. */
export interface WorkerToken extends TokenPiece {
  /** 0-based position in the completion. */
  index: number;
  id: number;
  logprob: number;
  /** The `params.topLogprobs` most likely alternatives at this position. */
  top: Array<TokenPiece & { id: number; logprob: number }>;
  /** Text that may be appended to the visible completion now (stop-sequence safe). */
  delta: string;
}

/** How a generation ended. */
export interface GenerationResult {
  finishReason: 'stop' | 'length';
  /** Text released at the end that no token event carried. */
  tailText: string;
  text: string;
  promptTokens: number;
  /** Every token the model produced, including an end-of-sequence token. */
  completionTokens: number;
}

export interface WorkerResult extends GenerationResult {
  /**
   * How many tokens `onTokens` delivered. Callbacks travel on their own comlink port, so the result can overtake
   * the last of them: the caller must wait until it has seen this many before treating the job as complete.
   */
  tokenEvents: number;
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
