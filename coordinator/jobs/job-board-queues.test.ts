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
    expect(b.link.ofType('task').map((t) => [t.jobId, t.prefix?.length])).toEqual([
      [first.id, 3],
      [second.id, undefined],
    ]);
    expect([a.tab.ready, b.tab.runningJobs]).toEqual([false, 2]);
  });

  it("keeps a job alive while its tab reports loading the job's model; a report for another tab's job does nothing", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ jobsPerTab: 2, idleTimeoutMs: 1000 });
    const a = net.addTab();
    const first = await net.startJob();
    const second = await net.startJob();
    const b = net.addTab();
    const other = await net.startJob();
    expect(other.tab.id).toBe(b.tab.id);
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(900);
      net.board.loading(a.tab, first.id);
      net.board.loading(a.tab, other.id); // not a's job
    }
    expect([net.board.running(first.id), net.board.running(second.id)]).toEqual([true, true]);
    expect(b.tab.ready).toBe(false); // silent for 2.7 s: expelled
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
