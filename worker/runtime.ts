/**
 * A loaded model ready to serve chat tasks: engine + tokenizer + end-of-sequence ids. Shared by the browser
 * worker and by Node (tests' reference generations, benchmarks), so both run exactly the same code.
 */
import type { Engine, EngineBackend } from './engine/engine.ts';
import { createOnnxEngine, type OrtRuntime } from './engine/onnx.ts';
import { eosTokenIds, type ModelBundle } from './models/model-bundle.ts';
import { createChatTokenizer, type ChatTokenizer } from './text/chat-tokenizer.ts';
import { generate, type GeneratedToken, type GenerationResult, type GenerationTamper } from './generate.ts';
import type { PlainMessage } from '../src/protocol/api.ts';
import type { SamplingParams } from '../src/protocol/tab.ts';

export interface LoadedModel {
  id: string;
  engine: Engine;
  tokenizer: ChatTokenizer;
  eosIds: number[];
}

export async function loadModel(bundle: ModelBundle, ort: OrtRuntime, backend: EngineBackend, options: { cpuThreads?: number } = {}): Promise<LoadedModel> {
  const engine = await createOnnxEngine({ ort, model: bundle.onnx, config: bundle.config, backend, ...options });
  return {
    id: bundle.id,
    engine,
    tokenizer: createChatTokenizer(bundle.tokenizerJson, bundle.tokenizerConfig),
    eosIds: eosTokenIds(bundle),
  };
}

export interface ChatTask {
  messages: PlainMessage[];
  params: SamplingParams;
  /** Tokens already produced elsewhere (failover); see GenerateOptions.prefixIds. */
  prefix?: readonly number[];
}

export function runChatTask(
  model: LoadedModel,
  task: ChatTask,
  onToken?: (token: GeneratedToken) => void,
  signal?: AbortSignal,
  /** Test-hooks builds only (worker/cheats.ts). */
  tamper?: GenerationTamper,
): Promise<GenerationResult> {
  return generate({
    engine: model.engine,
    tokenizer: model.tokenizer,
    promptIds: model.tokenizer.encodeChat(task.messages),
    ...(task.prefix ? { prefixIds: task.prefix } : {}),
    params: task.params,
    eosIds: model.eosIds,
    ...(onToken ? { onToken } : {}),
    ...(signal ? { signal } : {}),
    ...(tamper ? { tamper } : {}),
  });
}
