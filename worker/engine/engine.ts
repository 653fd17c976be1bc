/**
 * What the generation loop needs from a model runtime: feed tokens, get next-token logits. Implemented by the
 * onnxruntime engine (WebGPU or WASM in the browser, wasm or native CPU in Node); an MLC/web-llm engine fits the
 * same shape. Sampling, stop handling and logprobs live above this interface, so every engine samples alike.
 */
export type EngineBackend = 'webgpu' | 'wasm' | 'cpu';

export interface Engine {
  readonly backend: EngineBackend;
  readonly vocabSize: number;
  /** Longest sequence (prompt + completion) the model accepts. */
  readonly maxPositions: number;
  /** A fresh sequence with its own KV cache. Several may be alive at once. */
  startSequence(): DecoderSequence;
  dispose(): Promise<void>;
}

export interface DecoderSequence {
  /** Tokens fed so far. */
  readonly length: number;
  /**
   * Feeds `tokenIds` after everything fed before and resolves to the logits at the last position.
   * Must not be called again before the previous call settled.
   */
  extend(tokenIds: readonly number[]): Promise<Float32Array>;
  /** Like `extend`, resolving to the logits at every position fed (teacher forcing, for re-scoring). */
  extendAll(tokenIds: readonly number[]): Promise<Float32Array[]>;
  /** Releases the KV cache. The sequence is unusable afterwards. */
  dispose(): void;
}
