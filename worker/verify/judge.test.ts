import { describe, expect, it } from 'vitest';
import { logSoftmax, selectToken, uniformAt, type SamplingRule } from '../sampling.ts';
import { judgeAlternatives, judgeToken, judgeTranscript, type Tolerances, type TranscriptClaim } from './judge.ts';
import { topLogprobs } from '../sampling.ts';
import { VERIFICATION_TOLERANCES } from '../../coordinator/trust/tolerances.ts';

/** Deterministic test randomness (mulberry32), so every run judges the same cases. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return { next, gaussian, int: (n: number) => Math.floor(next() * n) };
}

const EXACT: Tolerances = { epsilon: 0, delta: 0, tau: 1e-12 };
// Wider than the network's (coordinator/trust/tolerances.ts), to cover the larger noise injected below.
const LOOSE: Tolerances = { epsilon: 0.01, delta: 0.01, tau: 0.01 };

function randomCase(r: ReturnType<typeof random>, vocab = 64) {
  const logits = Float32Array.from({ length: vocab }, () => r.gaussian() * 3);
  const greedy = r.next() < 0.2;
  const rule: SamplingRule = { temperature: greedy ? 0 : 0.2 + r.next() * 1.3, topK: r.next() < 0.5 ? 0 : 1 + r.int(20), topP: r.next() < 0.5 ? 1 : 0.5 + r.next() * 0.5 };
  return { logits, rule, seed: r.int(2 ** 31), step: r.int(4096) };
}

describe('judgeToken', () => {
  it('accepts exactly what the sampler picks, with its log-probability, in 1,000 random cases', () => {
    const r = random(1);
    for (let i = 0; i < 1000; i++) {
      const { logits, rule, seed, step } = randomCase(r);
      const u = uniformAt(seed, step);
      const id = selectToken(logits, rule, u);
      const judgement = judgeToken(logits, rule, u, { id, logprob: logSoftmax(logits)[id] as number }, EXACT);
      expect(judgement, `case ${i}`).toMatchObject({ ok: true, intervalDistance: 0, logitGap: 0 });
    }
  });

  it('rejects any other token than the sampler picks, in 1,000 random cases', () => {
    const r = random(2);
    for (let i = 0; i < 1000; i++) {
      const { logits, rule, seed, step } = randomCase(r);
      const u = uniformAt(seed, step);
      const picked = selectToken(logits, rule, u);
      const other = (picked + 1 + r.int(logits.length - 1)) % logits.length;
      const judgement = judgeToken(logits, rule, u, { id: other, logprob: logSoftmax(logits)[other] as number }, EXACT);
      expect(judgement.ok, `case ${i}`).toBe(false);
      expect(judgement.reason).toBe(rule.temperature === 0 ? 'not_greedy' : 'outside_interval');
    }
  });

  it('rejects a tampered log-probability and an id outside the vocabulary', () => {
    const logits = Float32Array.from([2, 1, 0.5, -1]);
    const rule = { temperature: 0, topK: 0, topP: 1 };
    const honest = logSoftmax(logits)[0] as number;
    expect(judgeToken(logits, rule, 0.5, { id: 0, logprob: honest + 0.02 }, LOOSE)).toMatchObject({ ok: false, reason: 'logprob_mismatch' });
    expect(judgeToken(logits, rule, 0.5, { id: 0, logprob: Number.NaN }, LOOSE)).toMatchObject({ ok: false, reason: 'logprob_mismatch' });
    expect(judgeToken(logits, rule, 0.5, { id: 9, logprob: 0 }, LOOSE)).toMatchObject({ ok: false, reason: 'unknown_token' });
  });

  it('accepts honest tokens when the verifier’s logits differ by small float noise, within the tolerances', () => {
    const r = random(3);
    let worst = 0;
    for (let i = 0; i < 1000; i++) {
      const { logits, rule, seed, step } = randomCase(r);
      const u = uniformAt(seed, step);
      const id = selectToken(logits, rule, u);
      const claimed = { id, logprob: logSoftmax(logits)[id] as number };
      const noisy = logits.map((x) => x + r.gaussian() * 1e-4);
      const judgement = judgeToken(noisy, rule, u, claimed, LOOSE);
      worst = Math.max(worst, judgement.intervalDistance);
      // Greedy ties under noise are not a concern here: random logits have no near-ties at this size.
      expect(judgement.ok, `case ${i}: ${JSON.stringify(judgement)}`).toBe(true);
    }
    expect(worst).toBeLessThan(LOOSE.epsilon);
  });
});

describe('judgeToken with the network tolerances (coordinator/trust/tolerances.ts)', () => {
  // The largest honest WASM <-> WebGPU logprob deviation measured (npm run bench, verify part) was 1.1e-5. Logit noise
  // of sigma 1e-5 gives logprob deviations around 3e-5: more than measured, to leave margin.
  const NOISE = 1e-5;

  it('accepts honest tokens under noise of the measured WASM <-> WebGPU size, and still catches a 0.05 logprob tamper', () => {
    const r = random(11);
    let accepted = 0;
    let worstLogprob = 0;
    for (let i = 0; i < 1000; i++) {
      const { logits, rule, seed, step } = randomCase(r);
      const u = uniformAt(seed, step);
      const id = selectToken(logits, rule, u);
      const claimed = { id, logprob: logSoftmax(logits)[id] as number };
      const noisy = logits.map((x) => x + r.gaussian() * NOISE);
      const honest = judgeToken(noisy, rule, u, claimed, VERIFICATION_TOLERANCES);
      if (honest.ok) accepted++;
      worstLogprob = Math.max(worstLogprob, honest.logprobDeviation);
      expect(judgeToken(noisy, rule, u, { id, logprob: claimed.logprob + 0.05 }, VERIFICATION_TOLERANCES).reason).toBe('logprob_mismatch');
    }
    expect(accepted).toBe(1000);
    expect(worstLogprob).toBeLessThan(VERIFICATION_TOLERANCES.tau / 10);
  });
});

describe('judgeAlternatives', () => {
  it('accepts the model’s most likely tokens as reported, and rejects made-up, shifted, repeated or lesser ones', () => {
    const r = random(21);
    for (let i = 0; i < 200; i++) {
      const logits = Float32Array.from({ length: 64 }, () => r.gaussian() * 3);
      const logprobs = logSoftmax(logits);
      const top = topLogprobs(logprobs, 3).map((t) => ({ id: t.id, logprob: t.logprob }));
      expect(judgeAlternatives(logits, top, 1e-3).ok).toBe(true);
      const [first, second, third] = top as [typeof top[0], typeof top[0], typeof top[0]];
      const shifted = [{ ...first, logprob: first.logprob + 0.05 }, second, third];
      const repeated = [first, first, third];
      const lesser = topLogprobs(logprobs, 10).slice(-1)[0] as { id: number; logprob: number };
      expect(judgeAlternatives(logits, shifted, 1e-3).ok).toBe(false);
      expect(judgeAlternatives(logits, repeated, 1e-3).ok).toBe(false);
      expect(judgeAlternatives(logits, [first, second, { id: lesser.id, logprob: lesser.logprob }], 1e-3).ok).toBe(false);
    }
  });
});

describe('judgeTranscript', () => {
  const EOS = 63;
  const rule: SamplingRule = { temperature: 0.8, topK: 0, topP: 0.95 };
  /** A stand-in model: fixed pseudo-random logits per position (what the verifier's forward pass returns). */
  const model = (salt: number) => (position: number) => {
    const r = random(1000 * salt + position);
    return Float32Array.from({ length: 64 }, () => r.gaussian() * 2);
  };

  /** Samples honestly from `logitsAt` until EOS or `maxTokens`, as the generation loop does. */
  function generate(logitsAt: (t: number) => ArrayLike<number>, seed: number, maxTokens: number): TranscriptClaim {
    const tokens: Array<{ id: number; logprob: number }> = [];
    for (let t = 0; t < maxTokens; t++) {
      const logits = logitsAt(t);
      const id = selectToken(logits, rule, uniformAt(seed, t));
      if (id === EOS) return { rule, seed, maxTokens, tokens, finishReason: 'stop', completionTokens: tokens.length + 1 };
      tokens.push({ id, logprob: logSoftmax(logits)[id] as number });
    }
    return { rule, seed, maxTokens, tokens, finishReason: 'length', completionTokens: maxTokens };
  }

  /** An honest transcript that the model ended itself (EOS drawn), for some seed. */
  function endedByModel(logitsAt: (t: number) => ArrayLike<number>): TranscriptClaim {
    for (let seed = 1; ; seed++) {
      const claim = generate(logitsAt, seed, 200);
      if (claim.finishReason === 'stop' && claim.tokens.length >= 5) return claim;
    }
  }

  /** An honest transcript cut by max_tokens, for some seed. */
  function endedByLength(logitsAt: (t: number) => ArrayLike<number>, maxTokens: number): TranscriptClaim {
    for (let seed = 1; ; seed++) {
      const claim = generate(logitsAt, seed, maxTokens);
      if (claim.finishReason === 'length') return claim;
    }
  }

  it('accepts honest transcripts, ended by the model or by max_tokens', () => {
    const logitsAt = model(1);
    expect(judgeTranscript(endedByModel(logitsAt), logitsAt, new Set([EOS]), EXACT)).toMatchObject({ ok: true, firstFailure: null });
    const byLength = endedByLength(logitsAt, 12);
    expect(byLength.tokens).toHaveLength(12);
    expect(judgeTranscript(byLength, logitsAt, new Set([EOS]), EXACT)).toMatchObject({ ok: true, firstFailure: null });
  });

  it('catches a truncated output that claims the model stopped', () => {
    const logitsAt = model(1);
    const honest = endedByModel(logitsAt);
    const cut = honest.tokens.length - 2;
    const truncated = { ...honest, tokens: honest.tokens.slice(0, cut), completionTokens: cut + 1 };
    expect(judgeTranscript(truncated, logitsAt, new Set([EOS]), LOOSE).firstFailure).toEqual({ position: cut, reason: 'false_stop' });
  });

  it('catches a short output that claims max_tokens, and counts that do not add up', () => {
    const logitsAt = model(1);
    const honest = endedByLength(logitsAt, 12);
    expect(judgeTranscript({ ...honest, tokens: honest.tokens.slice(0, 8), completionTokens: 12 }, logitsAt, new Set([EOS]), LOOSE).firstFailure).toEqual({ position: 8, reason: 'length_mismatch' });
    expect(judgeTranscript({ ...honest, tokens: honest.tokens.slice(0, 8), completionTokens: 8 }, logitsAt, new Set([EOS]), LOOSE).firstFailure).toEqual({ position: 8, reason: 'false_length' });
  });

  it('catches tokens drawn with another seed, another model’s output, and tampered log-probabilities', () => {
    const logitsAt = model(1);
    const honest = generate(logitsAt, 7, 16);
    const otherSeed = { ...generate(logitsAt, 8, 16), seed: 7 };
    expect(judgeTranscript(otherSeed, logitsAt, new Set([EOS]), LOOSE).ok).toBe(false);
    const otherModel = generate(model(2), 7, 16);
    expect(judgeTranscript(otherModel, logitsAt, new Set([EOS]), LOOSE).ok).toBe(false);
    const tampered = { ...honest, tokens: honest.tokens.map((t, i) => (i === 5 ? { ...t, logprob: t.logprob + 0.5 } : t)) };
    expect(judgeTranscript(tampered, logitsAt, new Set([EOS]), LOOSE).firstFailure).toEqual({ position: 5, reason: 'logprob_mismatch' });
  });

  it('reports the largest deviations it saw', () => {
    const logitsAt = model(1);
    const honest = generate(logitsAt, 7, 16);
    const verdict = judgeTranscript(honest, (t) => logitsAt(t).map((x) => x + 1e-5 * ((t % 3) - 1)), new Set([EOS]), LOOSE);
    expect(verdict.ok).toBe(true);
    expect(verdict.maxLogprobDeviation).toBeGreaterThan(0);
    expect(verdict.maxLogprobDeviation).toBeLessThan(1e-4);
  });
});
