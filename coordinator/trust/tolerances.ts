/**
 * The tolerances verifiers judge with (worker/verify/judge.ts), sent with every audit. Honest tabs on different
 * backends must never reject each other; cheats must still fail. How they were chosen (npm run bench, verify part,
 * and the unit/e2e tests):
 *
 *  - Measured honest noise: transcripts generated on WASM and re-scored on WebGPU (SwiftShader) and back, and
 *    onnxruntime-node against onnxruntime-web: every token agreed (interval distance 0, greedy gap 0 over 640
 *    tokens); the largest logprob deviation was 3.2e-6 on dolphin-tiny and 1.1e-5 on dolphin-small.
 *  - τ = 1e-3: about 100x the largest honest deviation seen; the smallest cheat signal is 50x above it
 *    (tampered-logprobs shifts by 0.05; a 4-bit copy of dolphin-tiny deviates by 0.39 on average, up to 1.8).
 *  - ε = 1e-3: if every logprob moves by at most d, every boundary of the sampling CDF moves by at most about
 *    2d / temperature (renormalisation after filtering doubles it); at temperature 0.2 and d = 1.1e-5 that is 1.1e-4,
 *    9x under ε. A wrong token survives only if u_t falls within ε of its interval: about 2ε per token.
 *  - δ = 1e-3: honest greedy tokens differ only at a near-tie the size of the logit noise (about 1e-5).
 *
 * Engines that compute in f16 (real GPUs, MLC builds) differ far more (design.md: ~1e-3 on logits); tolerances for
 * such models must be measured on them before they serve audited jobs.
 */
import type { Tolerances } from '../../src/protocol/tab.ts';

export const VERIFICATION_TOLERANCES: Tolerances = { epsilon: 1e-3, delta: 1e-3, tau: 1e-3 };
