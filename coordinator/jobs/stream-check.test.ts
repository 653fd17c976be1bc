/**
 * The coordinator's text checks against a real generation on dolphin-tiny (onnxruntime-node): an honest stream,
 * as a tab sends it, passes; any text, bytes or prompt count that the ids do not give is caught.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNodeModel } from '../../test/support/node-model.ts';
import { runChatTask, type LoadedModel } from '../../worker/runtime.ts';
import type { SamplingParams, TokenEntry } from '../../src/protocol/tab.ts';
import { PieceBook, streamCheck } from './stream-check.ts';

let model: LoadedModel;
let book: PieceBook;
beforeAll(async () => {
  model = await loadNodeModel('dolphin-tiny');
  book = new PieceBook(model.tokenizer, model.engine.vocabSize, model.engine.maxPositions);
});
afterAll(async () => {
  await model?.engine.dispose();
});

const messages = [{ role: 'user' as const, content: 'Hello, Dolphin! Как дела? 你好 🐬' }];
const params = (p: Partial<SamplingParams> = {}): SamplingParams => ({ maxTokens: 40, temperature: 0.9, topP: 0.95, topK: 0, stop: [], seed: 11, topLogprobs: 2, ...p });

/** An honest run as the tab reports it: token entries (text = the loop's delta) and how it ended. */
async function honestStream(p: SamplingParams) {
  const entries: TokenEntry[] = [];
  const result = await runChatTask(model, { messages, params: p }, (t) =>
    entries.push({ index: t.index, token: { id: t.id, token: t.text, bytes: t.bytes, logprob: t.logprob }, text: t.delta, top: t.top.map((c) => ({ id: c.id, token: c.text, bytes: c.bytes, logprob: c.logprob })) }),
  );
  return { entries, end: { text: result.tailText } };
}

describe('streamCheck', () => {
  it('accepts an honest stream, in batches of any size, with or without a stop sequence', async () => {
    const plain = await honestStream(params());
    const stopAt = plain.entries.slice(5, 7).map((e) => e.token.token).join('');
    for (const p of [params(), params({ stop: [stopAt] })]) {
      const { entries, end } = await honestStream(p);
      const check = streamCheck(book, { params: p });
      for (let i = 0; i < entries.length; i += 3) expect(check.tokens(entries.slice(i, i + 3))).toBeNull();
      expect(check.done(end)).toBeNull();
    }
  });

  it('catches text, bytes or alternatives that are not the ids’, ids outside the vocabulary or context, and a token after the stop', async () => {
    const p = params();
    const { entries, end } = await honestStream(p);
    const failing = (mutate: (e: TokenEntry[]) => TokenEntry[], tail = end) => {
      const check = streamCheck(book, { params: p });
      return check.tokens(mutate(structuredClone(entries))) ?? check.done(tail);
    };
    expect(failing((e) => e)).toBeNull();
    expect(failing((e) => (e[3]!.text = 'Buy now! ', e))).toMatch(/streams text/);
    expect(failing((e) => (e[2]!.token.token = 'x', e))).toMatch(/is not token id/);
    expect(failing((e) => (e[2]!.token.bytes = [120], e))).toMatch(/is not token id/);
    expect(failing((e) => (e[2]!.token.id = model.engine.vocabSize, e))).toMatch(/is not token id/);
    expect(failing((e) => (e[2]!.index = model.engine.maxPositions, e))).toMatch(/beyond the model's/);
    expect(failing((e) => (e[1]!.top[0]!.token = 'y', e))).toMatch(/alternative/);
    expect(failing((e) => e, { ...end, text: end.text + ' and more' })).toMatch(/final text/);

    const stop = entries[4]!.token.token + entries[5]!.token.token;
    const stopped = { messages, params: { ...p, stop: [stop] } };
    const check = streamCheck(book, stopped);
    const withStop = await honestStream(stopped.params);
    expect(check.tokens(withStop.entries)).toBeNull();
    expect(check.tokens([{ ...entries[6]!, index: withStop.entries.length }])).toMatch(/after a stop sequence/);
  });
});
