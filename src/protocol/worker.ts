/**
 * The page <-> inference Web Worker interface, called through comlink (which carries the calls as structured
 * clones and rethrows errors as Error objects on the calling side). Callbacks must be wrapped in `Comlink.proxy`.
 * Both ends check what they receive with these schemas: the worker its requests and tasks, the page (through
 * src/lib/inference-worker.ts) every result, progress report and token batch.
 */
import { z } from 'zod';
import { adapterInfoSchema, adapterLimitsSchema, backendSchema, samplingParamsSchema, tolerancesSchema, verdictSchema } from './tab.ts';
import { chatRoleSchema } from './api.ts';

export const backendChoiceSchema = z.enum(['webgpu', 'wasm', 'auto']);
export type BackendChoice = z.infer<typeof backendChoiceSchema>;

export const deviceReportSchema = z.object({
  webgpu: z.boolean(),
  adapter: adapterInfoSchema.nullable(),
  limits: adapterLimitsSchema.nullable(),
  /** Why WebGPU is unavailable, when it is. */
  reason: z.string().nullable(),
  crossOriginIsolated: z.boolean(),
});
export type DeviceReport = z.infer<typeof deviceReportSchema>;

const count = z.number().int().nonnegative();

export const loadProgressSchema = z.object({ modelId: z.string(), loadedBytes: count, totalBytes: count, cachedBytes: count });
export type LoadProgress = z.infer<typeof loadProgressSchema>;

export const loadRequestSchema = z.object({
  baseUrl: z.url(),
  modelId: z.string().min(1).max(128),
  backend: backendChoiceSchema,
  /**
   * Threads for WASM inference (needs cross-origin isolation). Only the first load in a worker can set it:
   * onnxruntime-web fixes its thread pool when it starts. Default: every logical core but one, at most 8 (worker/wasm-threads.ts).
   */
  wasmThreads: z.number().int().min(1).max(64).optional(),
});
export type LoadRequest = z.infer<typeof loadRequestSchema>;

export const loadResultSchema = z.object({
  modelId: z.string(),
  backend: backendSchema,
  /** Threads onnxruntime-web's WASM backend runs with. */
  wasmThreads: z.number().int().min(1),
  /** Bytes served from the Cache API instead of the network. */
  cachedBytes: count,
  totalBytes: count,
  loadMs: z.number().nonnegative(),
});
export type LoadResult = z.infer<typeof loadResultSchema>;

/** A token on its own: its text (may hold U+FFFD when it is part of a multi-byte character) and exact bytes. */
const tokenPieceSchema = z.object({ text: z.string(), bytes: z.array(z.number().int().min(0).max(255)) });
export type TokenPiece = z.infer<typeof tokenPieceSchema>;

/** One generated token, as the generation loop makes it and the worker hands it to the page. */
export const workerTokenSchema = tokenPieceSchema.extend({
  /** 0-based position in the completion. */
  index: count,
  id: count,
  logprob: z.number(),
  /** The `params.topLogprobs` most likely alternatives at this position. */
  top: z.array(tokenPieceSchema.extend({ id: count, logprob: z.number() })).max(20),
  /** Text that may be appended to the visible completion now (stop-sequence safe). */
  delta: z.string(),
});
export type WorkerToken = z.infer<typeof workerTokenSchema>;
export const tokenBatchSchema = z.array(workerTokenSchema).min(1);

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

export const workerResultSchema = z.object({
  finishReason: z.enum(['stop', 'length']),
  tailText: z.string(),
  text: z.string(),
  promptTokens: count,
  completionTokens: count,
  /**
   * How many tokens `onTokens` delivered. Callbacks travel on their own comlink port, so the result can overtake
   * the last of them: the caller must wait until it has seen this many before treating the job as complete.
   */
  tokenEvents: count,
});
export type WorkerResult = z.infer<typeof workerResultSchema>;

/** What the page asks the worker to run (validated by the worker on receipt). */
export const chatTaskSchema = z.object({
  model: z.string().min(1).max(128),
  messages: z.array(z.object({ role: chatRoleSchema, content: z.string() })).min(1),
  params: samplingParamsSchema,
  /** Tokens another tab already produced for this job (failover, tab.ts `task`). */
  prefix: z.array(count).max(1 << 16).optional(),
});
export type ChatTask = z.infer<typeof chatTaskSchema>;

/** A completion to re-score (issue #4): the task as the worker got it and what it claimed to have produced. */
export const rescoreRequestSchema = chatTaskSchema.extend({
  tokens: z.array(z.object({ id: count, logprob: z.number(), top: z.array(z.object({ id: count, logprob: z.number() })).max(20).optional() })).max(1 << 16),
  finishReason: z.enum(['stop', 'length']),
  completionTokens: count,
  promptTokens: count.optional(),
  tolerances: tolerancesSchema,
});
export type RescoreRequest = z.infer<typeof rescoreRequestSchema>;

/** The verifier's verdict with its evidence (the same shape it signs and sends the coordinator). */
export const rescoreVerdictSchema = verdictSchema;
export type RescoreVerdict = z.infer<typeof rescoreVerdictSchema>;

/**
 * Test-only ways a tab cheats (issue #4), so end-to-end tests can show the audits catch each one. Only a test-hooks
 * build (`npm run build:test-hooks`, Vite mode `test-hooks`) acts on them: in any other build `setCheat` throws and
 * the cheating code is not bundled (worker/cheats.ts says what each mode does). `approve-everything` and
 * `reject-everything` are the verifier's cheats and live on the page; the worker ignores them.
 */
export const cheatModeSchema = /* @__PURE__ */ z.enum(['other-model', 'rounded-weights', 'random-tokens', 'false-stop', 'other-seed', 'tampered-logprobs', 'replay', 'approve-everything', 'reject-everything']);
export type CheatMode = z.infer<typeof cheatModeSchema>;

/** Parses what crossed the page <-> worker boundary, or throws an Error naming what was wrong. */
export function checkedWorkerValue<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw Object.assign(new Error(`invalid ${what}: ${z.prettifyError(result.error)}`), { name: 'worker_error' });
  return result.data;
}

/** `run` rejects with an Error whose `name` is a `TaskFailureCode` (comlink keeps name and message). */
export { TASK_FAILURE_CODES, type TaskFailureCode } from './tab.ts';

export interface InferenceWorkerApi {
  probeDevice(): Promise<DeviceReport>;
  load(request: LoadRequest, onProgress?: (p: LoadProgress) => void): Promise<LoadResult>;
  /**
   * Runs a chat task on the loaded model, one task at a time, in call order. `onTokens` receives the tokens in
   * order: the first at once, later ones batched when they come faster than every `TOKEN_BATCH_MS`. With `onLoad`,
   * a task for a model not loaded first loads it (as the last `load` did its model: same base URL and backend),
   * reporting the download's progress there; without it, such a task fails with `model_not_loaded`.
   */
  run(jobId: string, task: ChatTask, onTokens: (tokens: WorkerToken[]) => void, onLoad?: (progress: LoadProgress) => void): Promise<WorkerResult>;
  /**
   * Re-scores a claimed completion on the loaded model (one teacher-forced pass) and judges it; with `onLoad`, loads
   * its model first when another is loaded, as `run` does.
   */
  rescore(request: RescoreRequest, onLoad?: (progress: LoadProgress) => void): Promise<RescoreVerdict>;
  /** The model the engine holds now (null: none). */
  held(): Promise<string | null>;
  /** Stops a running or queued job; its `run` call rejects with name 'cancelled'. Unknown ids are ignored. */
  cancel(jobId: string): void;
  /**
   * Test-hooks builds only: cheat from now on in the given way (null: honestly), in call order with loads and
   * tasks. A model-swapping mode takes effect at the next `load`. Rejects in every other build.
   */
  setCheat(mode: CheatMode | null): Promise<void>;
}
