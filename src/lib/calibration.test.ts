import { describe, expect, it } from 'vitest';
import { calibrate, CALIBRATION_TOKENS } from './calibration.ts';
import type { WorkerResult } from '../protocol/worker.ts';

/** A worker whose run takes `ms` on the test's clock and produces `tokens` tokens. */
function fakeWorker(tokens: number, ms: number, clock: { now: number }) {
  const calls: Array<{ model: string; maxTokens: number; temperature: number }> = [];
  return {
    calls,
    worker: {
      run: async (_jobId: string, task: { model: string; params: { maxTokens: number; temperature: number } }) => {
        calls.push({ model: task.model, maxTokens: task.params.maxTokens, temperature: task.params.temperature });
        clock.now += ms;
        return { finishReason: 'length', tailText: '', text: '', promptTokens: 9, completionTokens: tokens, tokenEvents: tokens } as WorkerResult;
      },
    },
  };
}

describe('calibrate', () => {
  it('times a short greedy run of the model: its tokens over the whole run', async () => {
    const clock = { now: 1000 };
    const { worker, calls } = fakeWorker(CALIBRATION_TOKENS, 500, clock);
    expect(await calibrate(worker, 'm', () => clock.now)).toBe(CALIBRATION_TOKENS * 2);
    expect(calls).toEqual([{ model: 'm', maxTokens: CALIBRATION_TOKENS, temperature: 0 }]);
  });

  it('gives null when the run produced nothing to time', async () => {
    const clock = { now: 0 };
    expect(await calibrate(fakeWorker(0, 500, clock).worker, 'm', () => clock.now)).toBeNull();
    expect(await calibrate(fakeWorker(5, 0, clock).worker, 'm', () => clock.now)).toBeNull();
  });
});
