/**
 * Re-scoring with the real engine on the generated tiny model: a completion generated on onnxruntime-node (native
 * CPU) is re-scored on onnxruntime-web's WASM backend, as a verifier tab on another engine would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNodeModel } from '../../test/support/node-model.ts';
import { runChatTask, type LoadedModel } from '../runtime.ts';
import type { SamplingParams } from '../../src/protocol/tab.ts';
import type { PlainMessage } from '../../src/protocol/api.ts';
import { rescore, type RescoreClaim } from './rescore.ts';
import type { Tolerances } from './judge.ts';
import { VERIFICATION_TOLERANCES } from '../../coordinator/trust/tolerances.ts';


// The network's tolerances; the deviations seen here are printed.
const TOLERANCES: Tolerances = VERIFICATION_TOLERANCES;
const messages: PlainMessage[] = [{ role: 'user', content: 'Tell me about dolphins and the sea.' }];
const params = (p: Partial<SamplingParams>): SamplingParams => ({ maxTokens: 40, temperature: 0.8, topP: 0.95, topK: 0, stop: [], seed: 1, topLogprobs: 0, ...p });

let worker: LoadedModel;
let verifier: LoadedModel;
beforeAll(async () => {
  worker = await loadNodeModel('dolphin-tiny', 'onnxruntime-node');
  verifier = await loadNodeModel('dolphin-tiny', 'onnxruntime-web');
});
afterAll(async () => {
  await worker?.engine.dispose();
  await verifier?.engine.dispose();
});

async function honestClaim(p: SamplingParams): Promise<RescoreClaim> {
  const tokens: Array<{ id: number; logprob: number }> = [];
  const result = await runChatTask(worker, { messages, params: p }, (t) => tokens.push({ id: t.id, logprob: t.logprob }));
  return { messages, params: p, tokens, finishReason: result.finishReason, completionTokens: result.completionTokens };
}

describe('rescore', () => {
  it('accepts honest completions generated on another engine, in one forward pass each', async () => {
    const deviations = { interval: 0, gap: 0, logprob: 0 };
    for (const p of [params({}), params({ seed: 2, temperature: 1.2, topK: 20 }), params({ seed: 3, temperature: 0 }), params({ seed: 4, topP: 0.5 })]) {
      const claim = await honestClaim(p);
      const verdict = await rescore(verifier, claim, TOLERANCES);
      expect(verdict, JSON.stringify(p)).toMatchObject({ ok: true, firstFailure: null });
      deviations.interval = Math.max(deviations.interval, verdict.maxIntervalDistance);
      deviations.gap = Math.max(deviations.gap, verdict.maxLogitGap);
      deviations.logprob = Math.max(deviations.logprob, verdict.maxLogprobDeviation);
    }
    console.log(`rescore onnxruntime-node -> onnxruntime-web wasm, largest deviations: ${JSON.stringify(deviations)}`);
    expect(deviations.logprob).toBeLessThan(TOLERANCES.tau);
  });

  it('rejects tokens from another seed, a truncated output claiming a stop, and a tampered log-probability', async () => {
    const honest = await honestClaim(params({ maxTokens: 30 }));
    const otherSeed = await honestClaim(params({ maxTokens: 30, seed: 99 }));
    expect((await rescore(verifier, { ...otherSeed, params: honest.params }, TOLERANCES)).ok).toBe(false);

    const cut = Math.max(1, Math.floor(honest.tokens.length / 2));
    const truncated = { ...honest, tokens: honest.tokens.slice(0, cut), finishReason: 'stop' as const, completionTokens: cut + 1 };
    expect((await rescore(verifier, truncated, TOLERANCES)).firstFailure?.reason).toBe('false_stop');

    const tampered = { ...honest, tokens: honest.tokens.map((t, i) => (i === 3 ? { ...t, logprob: t.logprob + 0.3 } : t)) };
    expect((await rescore(verifier, tampered, TOLERANCES)).firstFailure).toEqual({ position: 3, reason: 'logprob_mismatch' });
  });

  it('checks a stop-sequence ending: accepted where the loop stopped, a false_stop anywhere else', async () => {
    // A stop sequence the honest run will meet: the text of a few of its own tokens.
    const free = await honestClaim(params({ maxTokens: 30, seed: 5 }));
    const text = (ids: number[]) => worker.tokenizer.decode(ids);
    const stop = text(free.tokens.slice(8, 10).map((t) => t.id));
    expect(stop.length).toBeGreaterThan(0);
    const honest = await honestClaim(params({ maxTokens: 30, seed: 5, stop: [stop] }));
    expect(honest).toMatchObject({ finishReason: 'stop' });
    expect(honest.completionTokens).toBe(honest.tokens.length);
    expect((await rescore(verifier, honest, TOLERANCES)).ok).toBe(true);

    // Cut one token early and still claim the stop sequence ended it.
    const early = { ...honest, tokens: honest.tokens.slice(0, -1), completionTokens: honest.tokens.length - 1 };
    expect((await rescore(verifier, early, TOLERANCES)).firstFailure?.reason).toBe('false_stop');
    // The same tokens claimed as an end of the length budget, with the stop sequence in them.
    const asLength = { ...honest, params: { ...honest.params, maxTokens: honest.tokens.length }, finishReason: 'length' as const };
    expect((await rescore(verifier, asLength, TOLERANCES)).firstFailure?.reason).toBe('length_mismatch');
    // No stop sequence at all, yet a "stop" with no end-of-sequence token.
    const noStop = { ...free, tokens: free.tokens.slice(0, 12), finishReason: 'stop' as const, completionTokens: 12 };
    expect((await rescore(verifier, noStop, TOLERANCES)).firstFailure).toEqual({ position: 12, reason: 'false_stop' });
  });

  it('judges a continued job from its prefix on: an honest continuation passes, a tampered one fails at its position', async () => {
    // A stop sequence from the middle of a free run: the continuation must stop exactly where the whole run did.
    const free: number[] = [];
    await runChatTask(worker, { messages, params: params({ seed: 6 }) }, (t) => free.push(t.id));
    const stop = worker.tokenizer.decode(free).slice(20, 22);
    for (const p of [params({}), params({ seed: 5, temperature: 0 }), params({ seed: 6, stop: [stop] })]) {
      const whole = await honestClaim(p);
      expect(whole.tokens.length).toBeGreaterThan(8);
      const cut = 6;
      const prefix = whole.tokens.slice(0, cut).map((t) => t.id);
      const rest: Array<{ id: number; logprob: number }> = [];
      const result = await runChatTask(worker, { messages, params: p, prefix }, (t) => rest.push({ id: t.id, logprob: t.logprob }));
      const continued: RescoreClaim = { messages, params: p, prefix, tokens: rest, finishReason: result.finishReason, completionTokens: result.completionTokens };
      expect((await rescore(verifier, continued, TOLERANCES)).ok).toBe(true);
      // The prefix is given, not judged: its tokens carry no claim. A tampered continued token fails where it is.
      const tampered = { ...continued, tokens: rest.map((t, i) => (i === 1 ? { ...t, logprob: t.logprob - 0.5 } : t)) };
      expect((await rescore(verifier, tampered, TOLERANCES)).firstFailure).toEqual({ position: cut + 1, reason: 'logprob_mismatch' });
      // Claiming the continuation without its prefix is another completion, which the seed does not give.
      expect((await rescore(verifier, { ...continued, prefix: [] }, TOLERANCES)).ok).toBe(false);
    }
  });

  it('checks the prompt token count the worker reported', async () => {
    const honest = await honestClaim(params({ maxTokens: 5 }));
    const promptTokens = worker.tokenizer.encodeChat(messages).length;
    expect((await rescore(verifier, { ...honest, promptTokens }, TOLERANCES)).ok).toBe(true);
    expect((await rescore(verifier, { ...honest, promptTokens: promptTokens + 40 }, TOLERANCES)).firstFailure).toEqual({ position: 0, reason: 'prompt_mismatch' });
  });

  it('refuses token ids the model does not have without running it', async () => {
    const honest = await honestClaim(params({ maxTokens: 5 }));
    const verdict = await rescore(verifier, { ...honest, tokens: [...honest.tokens.slice(0, 2), { id: 1e9, logprob: 0 }] }, TOLERANCES);
    expect(verdict.firstFailure).toEqual({ position: 2, reason: 'unknown_token' });
  });
});
