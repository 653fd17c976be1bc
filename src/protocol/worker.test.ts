import { describe, expect, it } from 'vitest';
import { chatTaskSchema, checkedWorkerValue, loadRequestSchema, rescoreRequestSchema, rescoreVerdictSchema, tokenBatchSchema, workerResultSchema, type WorkerToken } from './worker.ts';

const token: WorkerToken = { index: 0, id: 5, text: 'Hi', bytes: [72, 105], logprob: -0.5, top: [{ id: 6, text: 'Ho', bytes: [72, 111], logprob: -1 }], delta: 'Hi' };
const task = { model: 'dolphin-tiny', messages: [{ role: 'user', content: 'hi' }], params: { maxTokens: 4, temperature: 0, topP: 1, topK: 0, stop: [], seed: 1, topLogprobs: 0 } };

describe('page <-> worker values', () => {
  it('passes well-formed values through', () => {
    expect(checkedWorkerValue(tokenBatchSchema, [token], 'token batch')).toEqual([token]);
    expect(checkedWorkerValue(chatTaskSchema, task, 'task')).toEqual(task);
    expect(checkedWorkerValue(loadRequestSchema, { baseUrl: 'http://127.0.0.1:8787', modelId: 'dolphin-tiny', backend: 'auto' }, 'load request').backend).toBe('auto');
    const result = { finishReason: 'length', tailText: '', text: 'Hi', promptTokens: 3, completionTokens: 1, tokenEvents: 1 };
    expect(checkedWorkerValue(workerResultSchema, result, 'run result')).toEqual(result);
    const rescore = { ...task, tokens: [{ id: 5, logprob: -0.5 }], finishReason: 'length', completionTokens: 1, tolerances: { epsilon: 0.001, delta: 0.001, tau: 0.001 } };
    expect(checkedWorkerValue(rescoreRequestSchema, rescore, 'rescore request')).toEqual(rescore);
    const verdict = { ok: false, firstFailure: { position: 0, reason: 'false_stop' }, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 1e-6 };
    expect(checkedWorkerValue(rescoreVerdictSchema, verdict, 'rescore verdict')).toEqual(verdict);
  });

  it.each([
    ['an empty token batch', tokenBatchSchema, []],
    ['a token with a byte over 255', tokenBatchSchema, [{ ...token, bytes: [256] }]],
    ['a token without its delta', tokenBatchSchema, [{ ...token, delta: undefined }]],
    ['a task without messages', chatTaskSchema, { ...task, messages: [] }],
    ['a task with a negative temperature', chatTaskSchema, { ...task, params: { ...task.params, temperature: -1 } }],
    ['a load request with a relative URL', loadRequestSchema, { baseUrl: '/models', modelId: 'm', backend: 'wasm' }],
    ['a load request for 0 threads', loadRequestSchema, { baseUrl: 'http://x', modelId: 'm', backend: 'wasm', wasmThreads: 0 }],
    ['a rescore request with a negative tolerance', rescoreRequestSchema, { ...task, tokens: [], finishReason: 'stop', completionTokens: 1, tolerances: { epsilon: -1, delta: 0, tau: 0 } }],
    ['a run result with a fractional count', workerResultSchema, { finishReason: 'stop', tailText: '', text: '', promptTokens: 1.5, completionTokens: 0, tokenEvents: 0 }],
  ] as const)('refuses %s with a worker_error naming it', (_name, schema, value) => {
    let error: unknown;
    try {
      checkedWorkerValue(schema as never, value, 'thing');
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'worker_error', message: expect.stringMatching(/^invalid thing: /) });
  });
});
