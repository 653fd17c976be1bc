/**
 * Public face of the model maker: generate model folders, and the specs / weights / reference forward pass
 * that tests and benchmarks compare against.
 */
import { fileURLToPath } from 'node:url';
import type { ModelFolderResult } from './model-folder.ts';
import { writeModelFolder } from './model-folder.ts';
import type { LlamaSpec } from './specs.ts';
import { MODEL_SPECS } from './specs.ts';

export type { LlamaSpec, SpecialTokenIds } from './specs.ts';
export {
  DOLPHIN_SMALL,
  DOLPHIN_TINY,
  DOLPHIN_TINY_IMPOSTER,
  DOLPHIN_TINY_Q4,
  MODEL_SPECS,
  TEST_MODEL_SPECS,
  SPECIAL_TOKENS,
  parameterCount,
  specialTokenIds,
  vocabSize,
} from './specs.ts';
export type { Manifest, ManifestFile, ModelFolderResult } from './model-folder.ts';
export { MANIFEST_FILE, readManifest, filesMatchManifest, writeModelFolder } from './model-folder.ts';
export type { ModelFile } from './model-files.ts';
export { buildModelFiles, ONNX_OPSET } from './model-files.ts';
export type { LayerWeights, LlamaWeights } from './weights.ts';
export { makeWeights } from './weights.ts';
export { QUANT_GROUP_SIZE, quantizeGroups } from './quantize.ts';
export type { ReferenceResult } from './reference-forward.ts';
export { referenceForward } from './reference-forward.ts';
export { CHATML_TEMPLATE } from './tokenizer-builder.ts';

/** `<repo>/models`, independent of the working directory. */
export const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url));
/** `<repo>/test-models`: TEST_MODEL_SPECS go here, out of the folder the coordinator serves by default. */
export const DEFAULT_TEST_MODELS_DIR = fileURLToPath(new URL('../../test-models', import.meta.url));

export interface MakeModelsOptions {
  /** Defaults to DEFAULT_MODELS_DIR. */
  readonly outDir?: string;
  /** Rewrite even when the manifest says the folder is up to date. */
  readonly force?: boolean;
  /** Defaults to MODEL_SPECS. */
  readonly specs?: readonly LlamaSpec[];
}

/** Writes `<outDir>/<id>/` for each spec, skipping folders that are already up to date. */
export function makeModels(options: MakeModelsOptions = {}): ModelFolderResult[] {
  const outDir = options.outDir ?? DEFAULT_MODELS_DIR;
  return (options.specs ?? MODEL_SPECS).map((spec) =>
    writeModelFolder(outDir, spec, { force: options.force ?? false }),
  );
}
