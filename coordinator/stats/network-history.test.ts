import { describe, expect, it } from 'vitest';
import { NetworkHistory, type NetworkReading } from './network-history.ts';

const tab = (backend: string | null, models: string[], runningJobs = 0) => ({ backend, models, runningJobs });
const quiet: NetworkReading = { tabs: [], waiting: 0, audits: { passed: 0, convicted: 0 } };

describe('NetworkHistory', () => {
  it('counts ready tabs by backend and by model, a tab holding two models under each', () => {
    const history = new NetworkHistory({ capacity: 4, startedAt: 0 });
    const s = history.sample(1000, { ...quiet, tabs: [tab('wasm', ['tiny']), tab('webgpu', ['tiny', 'small']), tab('wasm', []), tab(null, ['tiny', 'tiny'])] });
    expect(s.tabs).toEqual({ total: 4, byBackend: { wasm: 2, webgpu: 1, unknown: 1 }, byModel: { tiny: 3, small: 1 } });
  });

  it('counts a model named like an Object.prototype member as any other', () => {
    const history = new NetworkHistory({ capacity: 1, startedAt: 0 });
    const s = history.sample(1, { ...quiet, tabs: [tab('wasm', ['__proto__', 'constructor']), tab('wasm', ['__proto__'])] });
    expect(Object.entries(s.tabs.byModel)).toEqual([
      ['__proto__', 2],
      ['constructor', 1],
    ]);
    expect(JSON.parse(JSON.stringify(s.tabs.byModel))).toEqual({ ['__proto__']: 2, constructor: 1 });
  });

  it('splits jobs into running (one per busy tab), queued in tabs behind them, and waiting for any tab', () => {
    const history = new NetworkHistory({ capacity: 1, startedAt: 0 });
    const s = history.sample(1, { ...quiet, waiting: 5, tabs: [tab('wasm', ['m'], 2), tab('wasm', ['m'], 1), tab('wasm', ['m'], 0), tab('wasm', ['m'], 3)] });
    expect(s.jobs).toEqual({ running: 3, queuedInTabs: 3, waiting: 5 });
  });

  it('gives throughput over the interval since the last sample, then starts the tally again', () => {
    const history = new NetworkHistory({ capacity: 8, startedAt: 10_000 });
    history.tokensStreamed(30);
    history.jobEnded({ type: 'done', completionTokens: 30 }, 30);
    history.tokensStreamed(9);
    history.jobEnded({ type: 'done', completionTokens: 10 }, 9); // its end-of-sequence token, never streamed
    history.jobEnded({ type: 'failed', code: 'tab_disconnected' }, 4);
    const first = history.sample(12_000, quiet);
    expect(first.throughput).toEqual({ tokensPerSecond: 20, jobsPerSecond: 1, failedPerSecond: 0.5 });
    expect(first.totals).toEqual({ tokens: 40, jobs: 2, failed: 1 });
    history.tokensStreamed(8);
    history.jobEnded({ type: 'done', completionTokens: 8 }, 8);
    const second = history.sample(16_000, quiet);
    expect(second.throughput).toEqual({ tokensPerSecond: 2, jobsPerSecond: 0.25, failedPerSecond: 0 });
    expect(second.totals).toEqual({ tokens: 48, jobs: 3, failed: 1 });
    expect(history.sample(17_000, quiet).throughput).toEqual({ tokensPerSecond: 0, jobsPerSecond: 0, failedPerSecond: 0 });
  });

  it('never reports Infinity or NaN: a clock that did not move gives rates of 0, bad token counts count 0', () => {
    const history = new NetworkHistory({ capacity: 2, startedAt: 5 });
    for (const count of [Number.NaN, -3, 2.7]) history.tokensStreamed(count);
    history.jobEnded({ type: 'done', completionTokens: 0 }, 2);
    const s = history.sample(5, quiet);
    expect(s.throughput).toEqual({ tokensPerSecond: 0, jobsPerSecond: 0, failedPerSecond: 0 });
    expect(s.totals).toEqual({ tokens: 2, jobs: 1, failed: 0 });
  });

  it('counts tokens as they stream, so a long job spreads over the samples it spans', () => {
    const history = new NetworkHistory({ capacity: 4, startedAt: 0 });
    history.tokensStreamed(20);
    expect(history.sample(2000, quiet).throughput.tokensPerSecond).toBe(10);
    history.tokensStreamed(20);
    history.jobEnded({ type: 'done', completionTokens: 40 }, 40);
    expect(history.sample(4000, quiet).throughput).toEqual({ tokensPerSecond: 10, jobsPerSecond: 0.5, failedPerSecond: 0 });
  });

  it('does not count as failures a client that hung up or a choice cancelled because its sibling failed', () => {
    const history = new NetworkHistory({ capacity: 2, startedAt: 0 });
    history.jobEnded({ type: 'failed', code: 'client_closed_request' }, 0);
    history.jobEnded({ type: 'failed', code: 'cancelled' }, 0);
    history.jobEnded({ type: 'failed', code: 'model_not_loaded' }, 0);
    expect(history.sample(1000, quiet).totals).toEqual({ tokens: 0, jobs: 0, failed: 1 });
  });

  it('copies the audit counts it is given', () => {
    const history = new NetworkHistory({ capacity: 2, startedAt: 0 });
    const audits = { passed: 4, convicted: 1 };
    const s = history.sample(1, { ...quiet, audits });
    audits.passed = 100;
    expect(s.audits).toEqual({ passed: 4, convicted: 1 });
  });

  it('keeps the latest `capacity` samples, oldest first', () => {
    const history = new NetworkHistory({ capacity: 3, startedAt: 0 });
    expect(history.samples()).toEqual([]);
    expect(history.latest()).toBeUndefined();
    for (let t = 1; t <= 2; t++) history.sample(t, quiet);
    expect(history.samples().map((s) => s.at)).toEqual([1, 2]);
    for (let t = 3; t <= 7; t++) history.sample(t, quiet);
    expect(history.samples().map((s) => s.at)).toEqual([5, 6, 7]);
    expect(history.latest()?.at).toBe(7);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new NetworkHistory({ capacity: 0, startedAt: 0 })).toThrow(RangeError);
    expect(() => new NetworkHistory({ capacity: 1.5, startedAt: 0 })).toThrow(RangeError);
  });
});
