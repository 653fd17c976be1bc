/**
 * The board on the scheduler (issue #6): jobs go to the tab with the lowest expected completion time, queued on a
 * busy tab up to `jobsPerTab`; model residency, on-demand loading, memory and measured speed per model.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NO_LIMITS } from '../../src/protocol/tab.ts';
import { done, drain, flush, network, okJob, request, token, watch } from '../../test/unit/job-board-harness.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** A model of 100 MB whose largest tensor is 50 MB. */
const modelSize = (model: string) => (model === 'big' ? { modelBytes: 100e6, largestTensorBytes: 50e6 } : undefined);

describe('queues per tab', () => {
  it('queues a job on a busy tab when that finishes it first, sending the task at once; the next job starts when the first ends', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ jobsPerTab: 2, hedgeAfterMs: 500 });
    const fast = net.addTab();
    net.update(fast.tab, { speeds: { m: 100 } });
    const slow = net.addTab();
    net.update(slow.tab, { speeds: { m: 1 } });
    const first = await net.startJob();
    const second = await net.startJob();
    expect([first.tab.id, second.tab.id]).toEqual([fast.tab.id, fast.tab.id]);
    expect(fast.link.ofType('task').map((t) => t.jobId)).toEqual([first.id, second.id]);
    expect(fast.tab.runningJobs).toBe(2);

    // The queued job is not hedged while the first runs: its wait for a first token starts when its turn comes.
    net.board.handle(fast.tab, token(first.id, 0));
    vi.advanceTimersByTime(400);
    net.board.handle(fast.tab, done(first.id, 1));
    vi.advanceTimersByTime(400);
    expect(slow.link.sent).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(slow.link.ofType('task').map((t) => t.jobId)).toEqual([second.id]);

    // Both tabs hold a job (the slow one as the hedge) and the fast one has room: a third queues there, not on the slow.
    expect((await net.startJob()).tab.id).toBe(fast.tab.id);
    // The fast tab is full: a fourth queues on the slow one, and a fifth waits.
    const fourth = watch(net.board.start(request()));
    await flush();
    expect(okJob(fourth.result).tab.id).toBe(slow.tab.id);
    const fifth = watch(net.board.start(request()));
    await flush();
    expect(fifth.result).toBeNull();
  });

  it('prefers an idle tab to queuing behind a job on an equally fast one', async () => {
    const net = network({ jobsPerTab: 2 });
    const a = net.addTab();
    const b = net.addTab();
    const first = await net.startJob();
    const second = await net.startJob();
    expect(new Set([first.tab.id, second.tab.id])).toEqual(new Set([a.tab.id, b.tab.id]));
  });

  it("keeps a queued job alive while the tab streams the job before it, and fails both over when the tab goes silent", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ jobsPerTab: 2, idleTimeoutMs: 1000 });
    const a = net.addTab();
    const first = await net.startJob();
    const second = await net.startJob();
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(900);
      net.board.handle(a.tab, token(first.id, i));
    }
    expect(net.board.running(second.id)).toBe(true);
    const b = net.addTab();
    vi.advanceTimersByTime(1000);
    net.closeTab(a.tab); // what its session does when the expelled tab's link closes
    expect(b.link.ofType('task').map((t) => [t.jobId, t.prefix?.length])).toEqual([
      [first.id, 3],
      [second.id, undefined],
    ]);
    expect([a.tab.ready, b.tab.runningJobs]).toEqual([false, 2]);
  });

  describe('loading reports', () => {
    // A 5 MB model: the allowance is the idle timeout (1 s) plus 5 s at the slowest load rate (1 MB/s).
    const setup = async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const net = network({ jobsPerTab: 2, idleTimeoutMs: 1000, hedgeAfterMs: 1500, modelSize: (model) => (model === 'n' ? { modelBytes: 5e6, largestTensorBytes: 1e6 } : undefined) });
      const a = net.addTab(['m']);
      net.update(a.tab, { contributorLimits: { ...NO_LIMITS, models: ['m', 'n'] } });
      const first = await net.startJob(request('n'));
      const second = await net.startJob(request('n'));
      const report = (jobId: string, afterMs = 900) => {
        vi.advanceTimersByTime(afterMs);
        net.tick(afterMs);
        net.board.loading(a.tab, jobId);
      };
      return { net, a, first, second, report };
    };

    it('keep the job the tab runs alive and unhedged for the load’s allowance, then count no more', async () => {
      const { net, a, first, second, report } = await setup();
      const spare = net.addTab(['n']); // idle, holding the model: the hedge would go there
      for (let i = 0; i < 7; i++) report(first.id); // t = 900 … 6300: within 6 s of the first report
      expect([net.board.running(first.id), net.board.running(second.id), a.tab.ready]).toEqual([true, true, true]);
      expect(spare.link.ofType('task')).toEqual([]);
      report(first.id); // t = 7200: past the allowance, so the tab has been silent since 6300
      vi.advanceTimersByTime(100);
      expect(a.tab.ready).toBe(false);
      expect(spare.link.ofType('task').map((t) => t.jobId)).toEqual([first.id, second.id]);
    });

    it('for a job queued behind the one the tab runs, or for a model already in its engine, count for nothing', async () => {
      const { a, second, report } = await setup();
      report(second.id);
      vi.advanceTimersByTime(100);
      expect(a.tab.ready).toBe(false);

      const other = await setup();
      other.net.update(other.a.tab, { models: ['m', 'n'] });
      other.report(other.first.id);
      vi.advanceTimersByTime(100);
      expect(other.a.tab.ready).toBe(false);
    });
  });

  it('moves a job still queued on a tab that closes without counting a failover', async () => {
    const net = network({ jobsPerTab: 2, maxFailovers: 0 });
    const a = net.addTab();
    const first = await net.startJob();
    const second = await net.startJob();
    const b = net.addTab();
    net.closeTab(a.tab);
    // The running job may not fail over (maxFailovers 0); the queued one had not started, so it simply moves.
    expect((await drain(first)).at(-1)).toMatchObject({ type: 'failed', code: 'tab_disconnected' });
    expect(b.link.ofType('task').map((t) => t.jobId)).toEqual([second.id]);
  });

  it('a tab that fails to load a model is not given it again, and the job goes to another tab', async () => {
    const net = network({ jobsPerTab: 2 });
    const lists = { ...NO_LIMITS, models: ['m', 'n'] };
    const a = net.addTab(['m']);
    net.update(a.tab, { contributorLimits: lists, speeds: { n: 100 } });
    const b = net.addTab(['m']);
    net.update(b.tab, { contributorLimits: lists, speeds: { n: 10 } });
    const job = await net.startJob(request('n'));
    expect(job.tab.id).toBe(a.tab.id);
    net.board.handle(a.tab, { type: 'failed', jobId: job.id, code: 'model_not_loaded', message: 'could not load model n: HTTP 404' });
    expect(b.link.ofType('task').map((t) => t.jobId)).toEqual([job.id]);
    expect(a.tab.loadFailed).toEqual(['n']);
    expect((await net.startJob(request('n'))).tab.id).toBe(b.tab.id);
    expect((await net.startJob(request('m'))).tab.id).toBe(a.tab.id);
  });

  it('after a failed load, the jobs queued behind it for that model move too, and the freed tab takes what waits', async () => {
    const net = network({ jobsPerTab: 2 });
    const a = net.addTab(['m']);
    net.update(a.tab, { contributorLimits: { ...NO_LIMITS, models: ['m', 'n'] } });
    const first = await net.startJob(request('n'));
    const second = await net.startJob(request('n'));
    const waiting = watch(net.board.start(request('m')));
    const b = net.addTab(['n']);
    await flush();
    expect(waiting.result).toBeNull(); // a is full and b does not serve m
    net.board.handle(a.tab, { type: 'failed', jobId: first.id, code: 'model_not_loaded', message: 'could not load model n: HTTP 503' });
    expect(a.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: second.id }]);
    expect(new Set(b.link.ofType('task').map((t) => t.jobId))).toEqual(new Set([first.id, second.id]));
    await flush();
    expect(okJob(waiting.result).tab.id).toBe(a.tab.id);
    expect(a.tab.loadFailed).toEqual(['n']);
  });

  it('a hedge that wins after the first tab failed to load gets its own loading allowance; the failed tab is marked', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ jobsPerTab: 2, idleTimeoutMs: 1000, hedgeAfterMs: 500 });
    const lists = { ...NO_LIMITS, models: ['m', 'n'] };
    const a = net.addTab(['m']);
    net.update(a.tab, { contributorLimits: lists });
    const job = await net.startJob(request('n'));
    const b = net.addTab(['m']);
    net.update(b.tab, { contributorLimits: lists });
    let clock = 0;
    const at = (t: number) => {
      vi.advanceTimersByTime(t - clock);
      net.tick(t - clock);
      clock = t;
    };
    // a reports loading until its allowance (idle timeout + 0 bytes: 1 s from its first report) runs out.
    for (const t of [400, 800, 1200, 1500]) {
      at(t);
      net.board.loading(a.tab, job.id);
    }
    at(1700); // no counted report for 500 ms: hedged on b
    expect(b.link.ofType('task').map((t) => t.jobId)).toEqual([job.id]);
    at(1800);
    net.board.handle(a.tab, { type: 'failed', jobId: job.id, code: 'model_not_loaded', message: 'out of memory' });
    expect(a.tab.loadFailed).toEqual(['n']);
    for (const t of [2100, 2900]) {
      at(t);
      net.board.loading(b.tab, job.id);
    }
    at(3000);
    expect([b.tab.ready, net.board.running(job.id)]).toEqual([true, true]);
  });

  it('a queued job cancelled leaves the queue and the tab is told; the job before it runs on', async () => {
    const net = network({ jobsPerTab: 2 });
    const a = net.addTab();
    const first = await net.startJob();
    const second = await net.startJob();
    second.cancel('client left');
    expect(a.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: second.id }]);
    expect(a.tab.runningJobs).toBe(1);
    net.board.handle(a.tab, done(first.id, 0));
    expect((await drain(first)).at(-1)?.type).toBe('done');
    expect(a.tab.runningJobs).toBe(0);
  });

  it('gives a tab keeping to a share of time below 1 one job at a time', async () => {
    const net = network({ jobsPerTab: 2 });
    const { tab } = net.addTab();
    net.update(tab, { contributorLimits: { ...NO_LIMITS, share: 0.5 } });
    await net.startJob();
    const next = watch(net.board.start(request()));
    await flush();
    expect(next.result).toBeNull();
    expect(tab.runningJobs).toBe(1);
  });
});

describe('residency, on-demand loading and memory', () => {
  it('serves a model from a tab whose contributor listed it, which loads it on demand; never from a tab that neither has nor lists it', async () => {
    const net = network();
    const plain = net.addTab(['m']);
    expect(await net.board.start(request('n'))).toEqual({ ok: false, reason: 'no_tab' });
    const lender = net.addTab(['m']);
    net.update(lender.tab, { contributorLimits: { ...NO_LIMITS, models: ['m', 'n'] } });
    const job = await net.startJob(request('n'));
    expect(job.tab.id).toBe(lender.tab.id);
    expect(plain.link.sent).toEqual([]);
  });

  it('prefers the tab holding the model, then one that cached it, over one that must download it', async () => {
    const net = network({ modelSize });
    const all = { ...NO_LIMITS, models: ['m', 'big'] };
    const downloads = net.addTab(['m']);
    const cached = net.addTab(['m']);
    const loaded = net.addTab(['big']);
    // The tab holding the model is slower at decoding, but a load costs more than the difference here.
    net.update(downloads.tab, { contributorLimits: all, speeds: { big: 50 } });
    net.update(cached.tab, { contributorLimits: all, speeds: { big: 50 }, cached: ['big'] });
    net.update(loaded.tab, { contributorLimits: all, speeds: { big: 40 } });

    expect((await net.startJob(request('big'))).tab.id).toBe(loaded.tab.id);
    expect((await net.startJob(request('big'))).tab.id).toBe(cached.tab.id);
    expect((await net.startJob(request('big'))).tab.id).toBe(downloads.tab.id);
  });

  it("leaves out a WebGPU tab whose largest buffer cannot hold the model's largest tensor", async () => {
    const net = network({ modelSize });
    const small = net.addTab(['big']);
    net.update(small.tab, { backend: 'webgpu', limits: { maxBufferSize: 40e6, maxStorageBufferBindingSize: 40e6 } });
    expect(await net.board.start(request('big'))).toEqual({ ok: false, reason: 'no_tab' });
    const roomy = net.addTab(['big']);
    net.update(roomy.tab, { backend: 'webgpu', limits: { maxBufferSize: 60e6, maxStorageBufferBindingSize: 60e6 } });
    expect((await net.startJob(request('big'))).tab.id).toBe(roomy.tab.id);
  });

  it('ranks tabs by their speed on the job’s model, measured on served jobs over calibration', async () => {
    const net = network();
    const a = net.addTab(['m', 'n']);
    const b = net.addTab(['m', 'n']);
    net.update(a.tab, { calibration: { m: 50, n: 50 }, speeds: { n: 10 } }); // slow on n, as its jobs showed
    net.update(b.tab, { calibration: { m: 40, n: 40 } });
    const onM = await net.startJob(request('m'));
    expect(onM.tab.id).toBe(a.tab.id);
    net.board.handle(a.tab, done(onM.id, 0));
    expect((await net.startJob(request('n'))).tab.id).toBe(b.tab.id);
  });
});
