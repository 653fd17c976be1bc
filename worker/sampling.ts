/**
 * Seeded, engine-independent token selection. Given the same logits, params, seed and step, every engine picks
 * the same token, so an output is a function of (model, prompt, params, seed) and can be re-checked later.
 *
 * Contract (see docs/architecture.md, "Verifiable sampling"):
 * - step t draws u_t = uniformAt(seed, t) in [0, 1);
 * - temperature 0 is argmax, ties broken by the lower token id;
 * - otherwise tokens are put in canonical order (logit descending, ties by lower id), cut to top_k, scaled by
 *   1/temperature and softmaxed, cut to the shortest prefix whose mass reaches top_p, and the token is the inverse
 *   CDF of that renormalised distribution at u_t.
 */

export interface SamplingRule {
  temperature: number;
  topP: number;
  /** 0 = no top-k cut. */
  topK: number;
}

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64's output function: a fast 64-bit mixer with full avalanche. */
function mix64(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** u_t for a job: 53 uniformly distributed bits from (seed, step), as a float in [0, 1). */
export function uniformAt(seed: number, step: number): number {
  const bits = mix64(BigInt(seed) ^ mix64(BigInt(step)));
  return Number(bits >> 11n) / 2 ** 53;
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
  return best;
}

/** Token ids in canonical order: logit descending, ties by lower id. */
export function canonicalOrder(logits: ArrayLike<number>): number[] {
  const ids = Array.from({ length: logits.length }, (_, i) => i);
  return ids.sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b);
}

export interface FilteredDistribution {
  /** Candidate token ids in canonical order. */
  ids: number[];
  /** Their probabilities, same order, summing to 1. */
  probs: Float64Array;
}

/** The distribution sampling draws from, after temperature, top-k and top-p. Temperature must be > 0. */
export function filteredDistribution(logits: ArrayLike<number>, rule: SamplingRule): FilteredDistribution {
  let ids = canonicalOrder(logits);
  if (rule.topK > 0 && rule.topK < ids.length) ids = ids.slice(0, rule.topK);
  const max = logits[ids[0] as number] as number;
  let probs = new Float64Array(ids.length);
  let total = 0;
  for (let i = 0; i < ids.length; i++) {
    const p = Math.exp(((logits[ids[i] as number] as number) - max) / rule.temperature);
    probs[i] = p;
    total += p;
  }
  for (let i = 0; i < probs.length; i++) probs[i] = (probs[i] as number) / total;
  if (rule.topP < 1) {
    let mass = 0;
    let keep = 0;
    while (keep < probs.length && mass < rule.topP) mass += probs[keep++] as number;
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep);
    for (let i = 0; i < probs.length; i++) probs[i] = (probs[i] as number) / mass;
  }
  return { ids, probs };
}

/** Picks the token for step `u` (a draw in [0, 1)). */
export function selectToken(logits: ArrayLike<number>, rule: SamplingRule, u: number): number {
  if (rule.temperature === 0) return argmax(logits);
  const { ids, probs } = filteredDistribution(logits, rule);
  let cumulative = 0;
  for (let i = 0; i < ids.length; i++) {
    cumulative += probs[i] as number;
    if (u < cumulative) return ids[i] as number;
  }
  return ids[ids.length - 1] as number; // u within rounding of 1
}

/** log softmax of the raw logits (temperature 1, no filtering): the model's own log-probabilities. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += Math.exp((logits[i] as number) - max);
  const logZ = max + Math.log(total);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = (logits[i] as number) - logZ;
  return out;
}

/** The `n` most likely tokens with their log-probabilities, in canonical order. */
export function topLogprobs(logprobs: Float64Array, n: number): Array<{ id: number; logprob: number }> {
  if (n <= 0) return [];
  return canonicalOrder(logprobs)
    .slice(0, n)
    .map((id) => ({ id, logprob: logprobs[id] as number }));
}
