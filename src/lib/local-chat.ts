/**
 * "Run on my own GPU" (issue #7): the chat page's own inference worker, the one contributor tabs run, so a visitor's
 * answer is made in this tab instead of by the network. The same task the coordinator would send a tab (sampling
 * parameters planned by src/protocol/sampling-plan.ts from the same request fields, as the coordinator does), so with the
 * same seed it is the same answer. The worker starts on first use; one model is kept loaded.
 */
import { startInferenceWorker, type InferenceWorker } from './inference-worker.ts';
import type { ChatSettings } from './answer-stats.ts';
import type { PlainMessage } from '../protocol/api.ts';
import type { SamplingParams } from '../protocol/tab.ts';
import { planSampling } from '../protocol/sampling-plan.ts';
import type { BackendChoice, ChatTask, LoadProgress, LoadResult, WorkerResult, WorkerToken } from '../protocol/worker.ts';

/** The coordinator's sampling plan for a request carrying only these settings, at `seed`. */
export function localParams(settings: ChatSettings, seed: number): SamplingParams {
  return planSampling({ max_tokens: settings.maxTokens, temperature: settings.temperature, seed }, settings.maxTokens, () => seed);
}

/** A seed as the coordinator draws them: uniform over 0 … 2^53 − 1. */
export function randomSeed(random: (words: Uint32Array) => Uint32Array = (w) => crypto.getRandomValues(w)): number {
  const [high = 0, low = 0] = random(new Uint32Array(2));
  return (high >>> 11) * 2 ** 32 + low;
}

export class LocalChat {
  private worker: { api: InferenceWorker; terminate: () => void } | null = null;
  private jobs = 0;
  private running: string | null = null;

  constructor(
    private readonly start: () => { api: InferenceWorker; terminate: () => void } = startInferenceWorker,
    private readonly baseUrl: string = location.origin,
  ) {}

  /** Loads `model` on `backend` (WebGPU when `auto` finds an adapter, else WASM), or answers at once when it is loaded. */
  async load(model: string, backend: BackendChoice, onProgress: (progress: LoadProgress) => void): Promise<LoadResult> {
    this.worker ??= this.start();
    return this.worker.api.load({ baseUrl: this.baseUrl, modelId: model, backend }, onProgress);
  }

  /** Generates an answer with the loaded model; rejects with name 'cancelled' after `stop`. */
  async answer(model: string, messages: PlainMessage[], params: SamplingParams, onTokens: (tokens: WorkerToken[]) => void): Promise<WorkerResult> {
    if (!this.worker) throw new Error('no model is loaded in this tab yet');
    const jobId = `local-${++this.jobs}`;
    const task: ChatTask = { model, messages, params };
    this.running = jobId;
    try {
      return await this.worker.api.run(jobId, task, onTokens);
    } finally {
      if (this.running === jobId) this.running = null;
    }
  }

  stop(): void {
    if (this.running) this.worker?.api.cancel(this.running);
  }

  dispose(): void {
    this.worker?.terminate();
    this.worker = null;
  }
}
