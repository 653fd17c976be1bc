/** The contributor's limits on its tab, as the board applies them: pause, models allowed, share of time. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NO_LIMITS } from '../../src/protocol/tab.ts';
import { done, drain, flush, network, okJob, request, watch } from '../../test/unit/job-board-harness.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('contributor limits', () => {
  it('gives a paused tab no new job, and serves the model only from tabs whose contributor allows it', async () => {
    const net = network();
    const paused = net.addTab(['m', 'n']);
    net.update(paused.tab, { contributorLimits: { ...NO_LIMITS, paused: true } });
    expect(await net.board.start(request('m'))).toEqual({ ok: false, reason: 'no_tab' });
    const picky = net.addTab(['m', 'n']);
    net.update(picky.tab, { contributorLimits: { ...NO_LIMITS, models: ['n'] } });
    expect(await net.board.start(request('m'))).toEqual({ ok: false, reason: 'no_tab' });
    expect((await net.startJob(request('n'))).tab.id).toBe(picky.tab.id);
    expect(paused.link.sent).toEqual([]);
  });

  it('a tab unpaused takes the requests waiting for it', async () => {
    const net = network();
    const { tab } = net.addTab();
    const busy = net.addTab();
    await net.occupy(busy.tab);
    net.update(tab, { contributorLimits: { ...NO_LIMITS, paused: true } });
    const waiting = watch(net.board.start(request()));
    await flush();
    expect(waiting.result).toBeNull();
    net.update(tab, { contributorLimits: NO_LIMITS }); // what the tab's session does on its status
    await flush();
    expect(okJob(waiting.result).tab.id).toBe(tab.id);
  });

  it('rests a tab after each job to keep to its share of time, then gives it the next', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network();
    const { tab } = net.addTab();
    net.update(tab, { contributorLimits: { ...NO_LIMITS, share: 0.25 } });
    const first = await net.startJob();
    net.tick(100);
    net.board.handle(tab, done(first.id, 0));
    await drain(first);
    // 100 ms of work at a quarter of the time: 300 ms of rest, during which the next request waits.
    const next = watch(net.board.start(request()));
    await flush();
    expect(next.result).toBeNull();
    net.tick(299);
    vi.advanceTimersByTime(299);
    await flush();
    expect(next.result).toBeNull();
    net.tick(1);
    vi.advanceTimersByTime(1);
    await flush();
    expect(okJob(next.result).tab.id).toBe(tab.id);
  });
});
