/**
 * The generation loop and the onnxruntime engine on the real generated tiny model (onnxruntime-node), the same
 * code the browser worker runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNodeModel } from '../test/support/node-model.ts';
import { runChatTask, type LoadedModel } from './runtime.ts';
import { logSoftmax } from './sampling.ts';
import { generate, type GeneratedToken } from './generate.ts';
import type { Engine } from './engine/engine.ts';
import type { SamplingParams } from '../src/protocol/tab.ts';

let model: LoadedModel;
beforeAll(async () => {
  model = await loadNodeModel('dolphin-tiny');
});
afterAll(() => model.engine.dispose());

const params = (p: Partial<SamplingParams> = {}): SamplingParams => ({
  maxTokens: 24,
  temperature: 0.9,
  topP: 0.95,
  topK: 0,
  stop: [],
  seed: 3,
  topLogprobs: 0,
  ...p,
});
const messages = [{ role: 'user' as const, content: 'Hello there, how are you?' }];

async function run(p: SamplingParams) {
  const tokens: GeneratedToken[] = [];
  const result = await runChatTask(model, { messages, params: p }, (t) => tokens.push(t));
  return { tokens, ids: tokens.map((t) => t.id), ...result };
}

describe('engine', () => {
  it('gives the same logits with the KV cache as in one full pass (≤1e-4)', async () => {
    const ids = model.tokenizer.encodeChat(messages).concat(model.tokenizer.encode(' and some more text'));
    const full = model.engine.startSequence();
    const cached = model.engine.startSequence();
    try {
      let last = await cached.extend(ids.slice(0, 5));
      for (const id of ids.slice(5)) last = await cached.extend([id]);
      const whole = await full.extend(ids);
      expect(cached.length).toBe(ids.length);
      let maxDiff = 0;
      for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs((whole[i] as number) - (last[i] as number)));
      expect(maxDiff).toBeLessThanOrEqual(1e-4);
      expect(whole.length).toBe(model.engine.vocabSize);
    } finally {
      full.dispose();
      cached.dispose();
    }
  });
});

describe('generate', () => {
  it('gives the same tokens for the same seed and different ones for another seed', async () => {
    const a = await run(params());
    const b = await run(params());
    const c = await run(params({ seed: 4 }));
    expect(a.ids).toEqual(b.ids);
    expect(a.ids.length).toBeGreaterThan(0);
    expect(c.ids).not.toEqual(a.ids);
  });

  it('stops at max_tokens with finish_reason length and counts usage', async () => {
    const r = await run(params({ maxTokens: 5, temperature: 0 }));
    expect(r.tokens.map((t) => t.index)).toEqual([0, 1, 2, 3, 4]);
    expect(r.finishReason).toBe('length');
    expect(r.completionTokens).toBe(5);
    expect(r.promptTokens).toBe(model.tokenizer.encodeChat(messages).length);
    expect(r.tokens.map((t) => t.delta).join('') + r.tailText).toBe(r.text);
    expect(r.text).toBe(model.tokenizer.decode(r.ids));
  });

  it('ends on the end-of-sequence token without emitting it', async () => {
    // Find a seed whose completion ends with EOS before max_tokens.
    for (let seed = 0; seed < 200; seed++) {
      const r = await run(params({ seed, maxTokens: 40, temperature: 1.5, topP: 1 }));
      if (r.finishReason !== 'stop') continue;
      expect(r.completionTokens).toBe(r.tokens.length + 1);
      expect(r.ids.some((id) => model.eosIds.includes(id))).toBe(false);
      return;
    }
    throw new Error('no seed in 0..199 ended with EOS');
  });

  it('returns an empty completion when the first token is end-of-sequence', async () => {
    // An engine whose logits always favour EOS: the loop, not the model, is under test here.
    const eos = model.eosIds[0] as number;
    const eosEngine: Engine = {
      ...model.engine,
      startSequence: () => {
        const favourEos = () => Float32Array.from({ length: model.engine.vocabSize }, (_, i) => (i === eos ? 10 : 0));
        return { length: 0, extend: async () => favourEos(), extendAll: async (ids) => ids.map(favourEos), dispose() {} };
      },
    };
    const events: GeneratedToken[] = [];
    const r = await generate({
      engine: eosEngine,
      tokenizer: model.tokenizer,
      promptIds: [1, 2, 3],
      params: params({ temperature: 0 }),
      eosIds: model.eosIds,
      onToken: (t) => events.push(t),
    });
    expect(events).toEqual([]);
    expect(r).toMatchObject({ finishReason: 'stop', text: '', tailText: '', completionTokens: 1, promptTokens: 3 });
  });

  it('honours stop sequences and cuts the text before them', async () => {
    const free = await run(params({ temperature: 0, maxTokens: 30 }));
    const stop = free.text.slice(6, 8);
    const r = await run(params({ temperature: 0, maxTokens: 30, stop: [stop] }));
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
    expect(r.tokens.map((t) => t.delta).join('') + r.tailText).toBe(r.text);
  });

  it('reports each token’s log-probability and the top alternatives', async () => {
    const r = await run(params({ topLogprobs: 3, maxTokens: 6 }));
    const sequence = model.engine.startSequence();
    try {
      let logits = await sequence.extend(model.tokenizer.encodeChat(messages));
      for (const token of r.tokens) {
        const lp = logSoftmax(logits);
        expect(token.logprob).toBeCloseTo(lp[token.id] as number, 6);
        expect(token.top).toHaveLength(3);
        expect(token.top[0]?.logprob).toBeCloseTo(Math.max(...lp), 6);
        logits = await sequence.extend([token.id]);
      }
    } finally {
      sequence.dispose();
    }
  });

  it('continues from a prefix another tab produced: the same tokens, indices, text and usage as one uninterrupted run', async () => {
    const cases = [params({ maxTokens: 30 }), params({ maxTokens: 30, temperature: 0 }), params({ maxTokens: 30, seed: 11, topK: 20, topLogprobs: 2 })];
    // A stop sequence from the middle of a free run, so the continuation must hold back and cut exactly as the first tab would.
    const free = await run(params({ maxTokens: 30, temperature: 0 }));
    cases.push(params({ maxTokens: 30, temperature: 0, stop: [free.text.slice(20, 23)] }));
    for (const p of cases) {
      const whole = await run(p);
      expect(whole.tokens.length).toBeGreaterThan(6);
      for (const cut of [1, 5, whole.tokens.length - 1]) {
        const rest: GeneratedToken[] = [];
        const continued = await runChatTask(model, { messages, params: p, prefix: whole.ids.slice(0, cut) }, (t) => rest.push(t));
        expect(rest.map((t) => t.index)).toEqual(whole.tokens.slice(cut).map((t) => t.index));
        expect(rest.map((t) => t.id)).toEqual(whole.ids.slice(cut));
        for (const [i, t] of rest.entries()) expect(t.logprob).toBeCloseTo(whole.tokens[cut + i]?.logprob as number, 4);
        // What the client sees: the first tab's deltas, then the continuation's, then the tail.
        const streamed = whole.tokens.slice(0, cut).map((t) => t.delta).join('') + rest.map((t) => t.delta).join('') + continued.tailText;
        expect(streamed).toBe(whole.text);
        expect(continued).toMatchObject({ finishReason: whole.finishReason, completionTokens: whole.completionTokens, promptTokens: whole.promptTokens, text: whole.text });
      }
    }
  });

  it('ends at once, with nothing emitted, when the prefix already fills max_tokens; refuses a longer one', async () => {
    const whole = await run(params({ maxTokens: 6, temperature: 0 }));
    const rest: GeneratedToken[] = [];
    const continued = await runChatTask(model, { messages, params: params({ maxTokens: 6, temperature: 0 }), prefix: whole.ids }, (t) => rest.push(t));
    expect(rest).toEqual([]);
    expect(continued).toMatchObject({ finishReason: 'length', completionTokens: 6, text: whole.text });
    await expect(runChatTask(model, { messages, params: params({ maxTokens: 5 }), prefix: whole.ids })).rejects.toMatchObject({ code: 'context_length_exceeded' });
  });

  it('refuses a prompt that leaves no room in the context', async () => {
    const long = [{ role: 'user' as const, content: 'x '.repeat(model.engine.maxPositions) }];
    await expect(runChatTask(model, { messages: long, params: params() })).rejects.toMatchObject({ code: 'context_length_exceeded' });
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    let seen = 0;
    const pending = runChatTask(
      model,
      { messages, params: params({ maxTokens: 200 }) },
      () => {
        if (++seen === 3) controller.abort();
      },
      controller.signal,
    );
    await expect(pending).rejects.toThrow();
    expect(seen).toBe(3);
  });
});
