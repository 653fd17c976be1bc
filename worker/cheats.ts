/**
 * Test-only cheating (issue #4): a tab that departs from honest inference in one given way, so end-to-end tests
 * can show that re-scoring and audits catch it. Only test-hooks builds contain this module: the worker imports it
 * dynamically behind `import.meta.env.MODE === 'test-hooks'`, which every other Vite build folds to false.
 *
 * What each `CheatMode` does here:
 *  - other-model / rounded-weights: load the folder `<id>-imposter` / `<id>-q4` and serve it as model `<id>`.
 *  - random-tokens: every token uniformly random among the non-end-of-sequence ids (drawn from the job's seed on
 *    a stream sampling never uses, so reproducible), reported with the model's true logprob and fed back.
 *  - false-stop: honest tokens, but the completion ends after ceil(max_tokens / 2) of them claiming 'stop' with no
 *    end-of-sequence token (completion_tokens = tokens emitted).
 *  - other-seed: samples with seed + 1; everything reported still names the task's seed.
 *  - tampered-logprobs: honest tokens, each reported LOGPROB_SHIFT likelier than the model says (capped at 0).
 *  - replay: answers with the ids and claimed logprobs of the previous job this worker completed (the first job is
 *    honest), cut to max_tokens, ending as that job ended.
 *  - approve-everything, reject-everything: the verifier's cheats, on the page; nothing here.
 */
import type { CheatMode } from '../src/protocol/worker.ts';
import type { GeneratedToken, GenerationResult, GenerationTamper } from './generate.ts';
import { runChatTask, type ChatTask, type LoadedModel } from './runtime.ts';
import { uniformAt } from './sampling.ts';

/** How much likelier tampered-logprobs claims each token is (nats): well above re-scoring's tau, small to the eye. */
export const LOGPROB_SHIFT = 0.05;
/** random-tokens draws its step t from u(seed, RANDOM_STREAM + t), steps no completion reaches. */
const RANDOM_STREAM = 2 ** 32;

/** A completed job as the tab claimed it: what `replay` answers the next job with. */
export interface ClaimedCompletion {
  tokens: ReadonlyArray<{ id: number; logprob: number }>;
  /** 'eos' when an end-of-sequence token ended it. */
  ending: 'eos' | 'stop' | 'length';
}

export interface CheatJob {
  seed: number;
  vocabSize: number;
  eosIds: readonly number[];
}

/** The model folder a tab cheating with `mode` downloads when asked for `modelId`. */
export function modelFolder(mode: CheatMode | null, modelId: string): string {
  if (mode === 'other-model') return `${modelId}-imposter`;
  if (mode === 'rounded-weights') return `${modelId}-q4`;
  return modelId;
}

/** How generation departs from the honest loop for one job; undefined: it does not. */
export function tamperFor(mode: CheatMode, job: CheatJob, previous: ClaimedCompletion | null): GenerationTamper | undefined {
  switch (mode) {
    case 'random-tokens': {
      const eos = new Set(job.eosIds);
      const ids = Array.from({ length: job.vocabSize }, (_, id) => id).filter((id) => !eos.has(id));
      return { pick: (step) => ids[Math.floor(uniformAt(job.seed, RANDOM_STREAM + step) * ids.length)] as number };
    }
    case 'false-stop':
      return { stopAfter: (maxTokens) => ({ tokens: Math.ceil(maxTokens / 2), finishReason: 'stop' }) };
    case 'other-seed':
      return { seedFor: (seed) => seed + 1 };
    case 'tampered-logprobs':
      return { reportedLogprob: (_step, logprob) => Math.min(0, logprob + LOGPROB_SHIFT) };
    case 'replay': {
      if (!previous) return undefined;
      const { tokens, ending } = previous;
      const eos = job.eosIds[0];
      return {
        // Past the replayed tokens: the end-of-sequence token if that is how the replayed job ended.
        pick: (step, sampled) => tokens[step]?.id ?? (ending === 'eos' && eos !== undefined ? eos : sampled),
        reportedLogprob: (step, logprob) => tokens[step]?.logprob ?? logprob,
        stopAfter: () => (ending === 'eos' ? null : { tokens: tokens.length, finishReason: ending }),
      };
    }
    case 'other-model':
    case 'rounded-weights':
    case 'approve-everything':
    case 'reject-everything':
      return undefined;
  }
}

/** A worker's cheating: the folder swap for loads and `runChatTask` with the tamper, remembering jobs for `replay`. */
export interface Cheat {
  readonly mode: CheatMode;
  modelFolder(modelId: string): string;
  runChatTask(
    model: LoadedModel,
    task: ChatTask,
    onToken?: (token: GeneratedToken) => void,
    signal?: AbortSignal,
  ): Promise<GenerationResult>;
}

export function createCheat(mode: CheatMode): Cheat {
  let previous: ClaimedCompletion | null = null;
  return {
    mode,
    modelFolder: (modelId) => modelFolder(mode, modelId),
    async runChatTask(model, task, onToken, signal) {
      const tamper = tamperFor(mode, { seed: task.params.seed, vocabSize: model.engine.vocabSize, eosIds: model.eosIds }, previous);
      const tokens: Array<{ id: number; logprob: number }> = [];
      const result = await runChatTask(
        model,
        task,
        (token) => {
          tokens.push({ id: token.id, logprob: token.logprob });
          onToken?.(token);
        },
        signal,
        tamper,
      );
      previous = { tokens, ending: result.completionTokens > tokens.length ? 'eos' : result.finishReason };
      return result;
    },
  };
}
