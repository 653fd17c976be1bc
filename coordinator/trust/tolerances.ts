/**
 * The tolerances verifiers judge with (worker/verify/judge.ts), sent with every audit. Honest tabs on different
 * backends (WASM, WebGPU) must never reject each other; cheats must still fail. PROVISIONAL until measured
 * (npm run bench, verify part).
 */
import type { Tolerances } from '../../src/protocol/tab.ts';

export const VERIFICATION_TOLERANCES: Tolerances = { epsilon: 1e-3, delta: 1e-3, tau: 1e-3 };
