/**
 * The generated models. A spec fully determines a model folder: weights come from `seed` (then
 * `quantizeBits`), the tokenizer from the embedded corpus, `bpeTokens` and `maxPositions`. Changing any field
 * changes the files (the manifest fingerprint hashes the whole spec).
 */

export interface LlamaSpec {
  readonly id: string;
  readonly seed: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** Grouped-query attention: must divide numHeads. */
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly maxPositions: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  /** Tokens learned by BPE on top of the 256 byte tokens (the merge list may be slightly longer). */
  readonly bpeTokens: number;
  /**
   * When set, every matrix (projections, embeddings, lm_head; not the norm vectors) is rounded group-wise to
   * this many bits and stored dequantised as float32 (see quantize.ts): same files, same shapes, coarser values.
   */
  readonly quantizeBits?: 4;
}

/** Special tokens, appended after the byte and BPE tokens in this order. */
export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

export const DOLPHIN_TINY: LlamaSpec = {
  id: 'dolphin-tiny',
  seed: 1,
  hiddenSize: 64,
  intermediateSize: 176,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  maxPositions: 512,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  bpeTokens: 64,
};

export const DOLPHIN_SMALL: LlamaSpec = {
  id: 'dolphin-small',
  seed: 2,
  hiddenSize: 384,
  intermediateSize: 1024,
  numLayers: 6,
  numHeads: 6,
  numKvHeads: 2,
  headDim: 64,
  maxPositions: 1024,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  bpeTokens: 384,
};

/** The models the network serves (written to `models/`). */
export const MODEL_SPECS: readonly LlamaSpec[] = [DOLPHIN_TINY, DOLPHIN_SMALL];

/**
 * Cheater models for the trust tests (issue #4): a tab serves one of these under the name `dolphin-tiny`.
 * Both keep dolphin-tiny's architecture, tokenizer and config.json byte for byte; only the weights differ.
 * They are written to `test-models/`, never to `models/`, which the coordinator serves in production.
 */
/** Another model entirely: the same shapes with weights from another seed. */
export const DOLPHIN_TINY_IMPOSTER: LlamaSpec = { ...DOLPHIN_TINY, id: 'dolphin-tiny-imposter', seed: 101 };
/** A cheaper copy of the right model: dolphin-tiny's weights rounded to 4 bits. */
export const DOLPHIN_TINY_Q4: LlamaSpec = { ...DOLPHIN_TINY, id: 'dolphin-tiny-q4', quantizeBits: 4 };

export const TEST_MODEL_SPECS: readonly LlamaSpec[] = [DOLPHIN_TINY_IMPOSTER, DOLPHIN_TINY_Q4];

export function vocabSize(spec: LlamaSpec): number {
  return 256 + spec.bpeTokens + SPECIAL_TOKENS.length;
}

export interface SpecialTokenIds {
  /** `<|endoftext|>`: bos and pad. */
  readonly endOfText: number;
  readonly imStart: number;
  /** `<|im_end|>`: eos. */
  readonly imEnd: number;
}

export function specialTokenIds(spec: LlamaSpec): SpecialTokenIds {
  const first = 256 + spec.bpeTokens;
  return { endOfText: first, imStart: first + 1, imEnd: first + 2 };
}

/** Number of learned parameters (RoPE tables excluded). */
export function parameterCount(spec: LlamaSpec): number {
  const h = spec.hiddenSize;
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  const perLayer = 2 * h + h * q + 2 * h * kv + q * h + 3 * h * spec.intermediateSize;
  return 2 * vocabSize(spec) * h + spec.numLayers * perLayer + h;
}

/** Throws if the spec cannot describe a valid model. */
export function validateSpec(spec: LlamaSpec): void {
  if (spec.numHeads % spec.numKvHeads !== 0) throw new Error(`${spec.id}: numKvHeads must divide numHeads`);
  if (spec.headDim % 2 !== 0) throw new Error(`${spec.id}: headDim must be even for RoPE`);
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(spec.id)) throw new Error(`${spec.id}: id must be a safe folder name`);
}
