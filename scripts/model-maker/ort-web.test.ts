/**
 * The tiny model under onnxruntime-web's WASM provider in Node (the browser fallback path) agrees with
 * onnxruntime-node. No special setup is needed in Node: the default (multi-threaded) WASM build loads from
 * node_modules; numThreads = 1 keeps the test independent of worker-thread support.
 */
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff, onnxBytes, runDecoder } from './decoder-session.test-helper.ts';
import { DOLPHIN_TINY, vocabSize } from './specs.ts';

describe('onnxruntime-web (wasm) in Node', () => {
  it('loads the tiny model and matches onnxruntime-node, with and without the cache', async () => {
    ortWeb.env.wasm.numThreads = 1;
    const spec = DOLPHIN_TINY;
    const bytes = onnxBytes(spec);
    const web = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const node = await ortNode.InferenceSession.create(bytes);
    const ids = Array.from({ length: 10 }, (_, i) => (i * 53 + 11) % vocabSize(spec));
    const ones = (n: number) => ids.slice(0, n).map(() => 1);

    const prefillWeb = await runDecoder(ortWeb, web, spec, { inputIds: [ids.slice(0, 9)], attentionMask: [ones(9)] });
    const prefillNode = await runDecoder(ortNode, node, spec, {
      inputIds: [ids.slice(0, 9)],
      attentionMask: [ones(9)],
    });
    expect(maxAbsDiff(prefillWeb.logits, prefillNode.logits)).toBeLessThan(1e-4);

    const step = { inputIds: [[ids[9]!]], attentionMask: [ones(10)] };
    const stepWeb = await runDecoder(ortWeb, web, spec, { ...step, past: prefillWeb.present });
    const stepNode = await runDecoder(ortNode, node, spec, { ...step, past: prefillNode.present });
    expect(maxAbsDiff(stepWeb.logits, stepNode.logits)).toBeLessThan(1e-4);
    await Promise.all([web.release(), node.release()]);
  });
});
