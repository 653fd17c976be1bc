/**
 * A job outlives its tab: failover (the tab disconnects or goes silent mid-stream, the job continues on another tab
 * from its next token) and hedging (a late first token sends the task to a second tab; the first to answer keeps it).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { transcriptOf } from '../../src/protocol/identity.ts';
import { batch, done, drain, flush, network, okJob, request, token } from '../../test/unit/job-board-harness.ts';
import type { Tab } from '../tabs/tab-registry.ts';
import type { JobBoardOptions } from './job-board.ts';

type Finished = Parameters<NonNullable<JobBoardOptions['onFinished']>>[0];
type Completed = Parameters<NonNullable<JobBoardOptions['onCompleted']>>[0];

afterEach(() => {
  vi.useRealTimers();
});

describe('failover', () => {
  it('continues a job whose tab disconnected on another tab from its next token: one stream, the continuation signed and billed', async () => {
    const transcripts: string[] = [];
    const finished: Finished[] = [];
    const completed: Completed[] = [];
    const net = network({ verifyResult: (_tab, transcript) => (transcripts.push(transcript), true), onFinished: (f) => finished.push(f), onCompleted: (c) => completed.push(c) });
    const first = net.addTab();
    const job = await net.startJob(request('m', { maxTokens: 8 }));
    net.board.handle(first.tab, batch(job.id, [0, 1, 2]));
    const second = net.addTab();

    net.closeTab(first.tab);

    const [task] = second.link.ofType('task');
    expect(task).toEqual({ type: 'task', jobId: job.id, ...request('m', { maxTokens: 8 }), prefix: [10, 11, 12] });
    expect(second.tab.runningJobs).toBe(1);
    net.board.handle(second.tab, batch(job.id, [3, 4]));
    net.board.handle(second.tab, done(job.id, 6));

    const events = await drain(job);
    expect(events.map((e) => e.type)).toEqual(['tokens', 'tokens', 'done']);
    expect(events.flatMap((e) => (e.type === 'tokens' ? e.tokens.map((t) => t.index) : []))).toEqual([0, 1, 2, 3, 4]);
    // The second tab signed the task it got (with the prefix) and only the tokens it streamed.
    expect(transcripts).toHaveLength(1);
    expect(JSON.parse(transcripts[0] as string)[5]).toEqual(task?.prefix);
    expect(JSON.parse(transcripts[0] as string)[6].map((t: unknown[]) => t[0])).toEqual([13, 14]);
    expect(finished).toEqual([expect.objectContaining({ id: job.id, tab: second.tab, streamed: 5 })]);
    expect(second.tab).toMatchObject({ runningJobs: 0, jobsServed: 1, tokensServed: 2 });
    // The audits judge what the signature covers: the task with its prefix, and the second tab's own tokens.
    expect(completed).toEqual([expect.objectContaining({ tab: second.tab, task, tokens: [expect.objectContaining({ id: 13 }), expect.objectContaining({ id: 14 })] })]);
  });

  it('sends the plain task again when the first tab streamed nothing, and that job is audited as usual', async () => {
    const completed: Completed[] = [];
    const net = network({ onCompleted: (c) => completed.push(c) });
    const first = net.addTab();
    const job = await net.startJob();
    const second = net.addTab();
    net.closeTab(first.tab);
    expect(second.link.ofType('task')).toEqual(first.link.ofType('task'));
    expect(job.tab.id).toBe(second.tab.id);
    net.board.handle(second.tab, token(job.id, 0));
    net.board.handle(second.tab, done(job.id, 1));
    await drain(job);
    expect(completed).toHaveLength(1);
  });

  it('takes over a silent tab’s job (tab_timeout) and expels that tab', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ idleTimeoutMs: 100 });
    const silent = net.addTab();
    const job = await net.startJob();
    net.board.handle(silent.tab, token(job.id, 0));
    const other = net.addTab();

    vi.advanceTimersByTime(100);

    expect(silent.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: job.id }]);
    expect(silent.link.closes).toEqual(['tab_timeout']);
    expect(silent.tab.runningJobs).toBe(0);
    expect(other.link.ofType('task')[0]?.prefix).toEqual([10]);
    // What the silent tab sends late is dropped; the job goes on with the other tab.
    net.board.handle(silent.tab, token(job.id, 1));
    net.board.handle(other.tab, token(job.id, 1, 'x'));
    net.board.handle(other.tab, done(job.id, 2));
    const events = await drain(job);
    expect(events.flatMap((e) => (e.type === 'tokens' ? e.tokens.map((t) => t.text) : []))).toEqual(['t0', 'x']);
    expect(events.at(-1)?.type).toBe('done');
  });

  it('waits at the head of the queue for a busy tab, ahead of new requests, and fails when none frees in time', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ queueTimeoutMs: 1000 });
    const first = net.addTab();
    const job = await net.startJob();
    net.board.handle(first.tab, token(job.id, 0));
    const busy = net.addTab();
    const other = await net.startJob();
    const later = net.board.start(request(), { id: 'later' });

    net.closeTab(first.tab);
    expect(net.board.waitingCount).toBe(2);
    net.board.handle(busy.tab, done(other.id, 0));
    expect(busy.link.ofType('task').map((t) => [t.jobId, t.prefix?.length])).toEqual([
      [other.id, undefined],
      [job.id, 1],
    ]);

    // A new tab takes the request still waiting; the next time, no tab frees up: the job fails once the queue's
    // wait is over.
    const third = net.addTab();
    expect(okJob(await later).tab.id).toBe(third.tab.id);
    net.closeTab(busy.tab);
    vi.advanceTimersByTime(1000);
    await flush();
    const events = await drain(job);
    expect(events.at(-1)).toEqual({ type: 'failed', code: 'tab_disconnected', message: expect.stringContaining('no other tab') });
  });

  it('continues a job that streamed all its max_tokens and lost only its done: the new tab ends it', async () => {
    const net = network();
    const first = net.addTab();
    const job = await net.startJob(request('m', { maxTokens: 2 }));
    net.board.handle(first.tab, batch(job.id, [0, 1]));
    const second = net.addTab();
    net.closeTab(first.tab);
    expect(second.link.ofType('task')[0]?.prefix).toEqual([10, 11]);
    net.board.handle(second.tab, { ...done(job.id, 2), finishReason: 'length' });
    expect((await drain(job)).map((e) => e.type)).toEqual(['tokens', 'done']);
  });

  it('gives up after maxFailovers, and never goes back to a tab the job left', async () => {
    const net = network({ maxFailovers: 1 });
    const a = net.addTab();
    const job = await net.startJob();
    const b = net.addTab();
    net.board.handle(a.tab, token(job.id, 0));
    net.closeTab(a.tab);
    expect(b.link.ofType('task')).toHaveLength(1);
    net.addTab();
    net.closeTab(b.tab);
    expect(await drain(job)).toEqual([expect.objectContaining({ type: 'tokens' }), { type: 'failed', code: 'tab_disconnected', message: expect.any(String) }]);
  });

  it('a cancel while waiting for a tab ends the job, leaves the queue and tells no tab', async () => {
    const net = network();
    const first = net.addTab();
    const job = await net.startJob();
    const busy = net.addTab();
    const other = await net.occupy(busy.tab);
    net.closeTab(first.tab);
    expect(net.board.waitingCount).toBe(1);
    job.cancel('client left');
    expect(net.board.waitingCount).toBe(0);
    expect(await drain(job)).toEqual([{ type: 'failed', code: 'client_closed_request', message: 'client left' }]);
    expect(busy.link.sent.map((m) => 'jobId' in m && m.jobId)).toEqual([other.id]);
    expect(first.link.ofType('cancel')).toEqual([]);
  });

  it('sends the continuation again, not a resume, when its data channel drops before its first token', async () => {
    const net = network();
    const first = net.addTab();
    const job = await net.startJob();
    net.board.handle(first.tab, token(job.id, 0));
    const second = net.addTab();
    net.closeTab(first.tab);
    net.board.dataChannelLost(second.tab);
    expect(second.link.sent.map((m) => m.type)).toEqual(['task', 'task']);
    net.board.handle(second.tab, token(job.id, 1));
    net.board.dataChannelLost(second.tab);
    expect(second.link.sent.at(-1)).toEqual({ type: 'resume', jobId: job.id, from: 2 });
  });
});

describe('hedging', () => {
  const hedged = async (hedgeAfterMs = 500) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const finished: Finished[] = [];
    const net = network({ hedgeAfterMs, onFinished: (f) => finished.push(f) });
    const slow = net.addTab();
    const job = await net.startJob();
    const spare = net.addTab();
    vi.advanceTimersByTime(hedgeAfterMs);
    return { net, slow, spare, job, finished };
  };
  const busyOf = (...tabs: Array<{ tab: Tab }>) => tabs.map((t) => t.tab.runningJobs);

  it('sends the task to a second idle tab when the first token is late; the hedge answers first, keeps the job and is paid', async () => {
    const { net, slow, spare, job, finished } = await hedged();
    expect(spare.link.ofType('task')).toEqual(slow.link.ofType('task'));
    expect(busyOf(slow, spare)).toEqual([1, 1]);

    net.board.handle(spare.tab, token(job.id, 0, 'h'));
    expect(slow.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: job.id }]);
    expect(busyOf(slow, spare)).toEqual([0, 1]);
    net.board.handle(slow.tab, token(job.id, 0, 's')); // the loser's late token is dropped
    net.board.handle(spare.tab, done(job.id, 1));

    const events = await drain(job);
    expect(events.flatMap((e) => (e.type === 'tokens' ? e.tokens.map((t) => t.text) : []))).toEqual(['h']);
    expect(finished).toEqual([expect.objectContaining({ tab: spare.tab })]);
    // The job names the tab that answered (the API's x-dolphin-* headers read it after the first token).
    expect(job.tab).toMatchObject({ id: spare.tab.id, contributorId: spare.tab.contributorId });
    expect(busyOf(slow, spare)).toEqual([0, 0]);
  });

  it('cancels the hedge when the first tab answers first', async () => {
    const { net, slow, spare, job, finished } = await hedged();
    net.board.handle(slow.tab, token(job.id, 0));
    expect(spare.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: job.id }]);
    net.board.handle(slow.tab, done(job.id, 1));
    await drain(job);
    expect(finished).toEqual([expect.objectContaining({ tab: slow.tab })]);
    expect(busyOf(slow, spare)).toEqual([0, 0]);
  });

  it('keeps the first tab when the hedge fails, and moves to the hedge when the first tab fails or leaves', async () => {
    const a = await hedged();
    a.net.board.handle(a.spare.tab, { type: 'failed', jobId: a.job.id, code: 'worker_error', message: 'x' });
    a.net.board.handle(a.slow.tab, done(a.job.id, 0));
    expect((await drain(a.job)).map((e) => e.type)).toEqual(['done']);

    const b = await hedged();
    b.net.board.handle(b.slow.tab, { type: 'failed', jobId: b.job.id, code: 'worker_error', message: 'x' });
    b.net.board.handle(b.spare.tab, done(b.job.id, 0));
    expect((await drain(b.job)).map((e) => e.type)).toEqual(['done']);
    expect(b.finished).toEqual([expect.objectContaining({ tab: b.spare.tab })]);

    const c = await hedged();
    c.net.closeTab(c.slow.tab);
    c.net.board.handle(c.spare.tab, done(c.job.id, 0));
    expect((await drain(c.job)).map((e) => e.type)).toEqual(['done']);
  });

  it('expels a racer whose first message breaks the contract; the other tab keeps the job', async () => {
    const { net, slow, spare, job, finished } = await hedged();
    net.board.handle(spare.tab, token(job.id, 5)); // a first token that is not index 0
    expect(spare.link.closes).toEqual(['protocol_error']);
    expect(slow.link.ofType('cancel')).toEqual([]);
    net.board.handle(slow.tab, token(job.id, 0));
    net.board.handle(slow.tab, done(job.id, 1));
    expect((await drain(job)).map((e) => e.type)).toEqual(['tokens', 'done']);
    expect(finished).toEqual([expect.objectContaining({ tab: slow.tab })]);
    expect(busyOf(slow, spare)).toEqual([0, 0]);
  });

  it('does not hedge once a token came, nor without an idle tab; a job that ends cancels its hedge', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ hedgeAfterMs: 500 });
    const a = net.addTab();
    const quick = await net.startJob();
    net.board.handle(a.tab, token(quick.id, 0));
    const b = net.addTab();
    net.update(b.tab, { restUntil: Infinity }); // not free: resting
    vi.advanceTimersByTime(500);
    net.update(b.tab, { restUntil: -Infinity });
    expect(b.link.sent).toEqual([]);
    net.board.handle(a.tab, done(quick.id, 1));

    const slow = await net.startJob();
    const spare = slow.tab.id === a.tab.id ? b : a;
    vi.advanceTimersByTime(500);
    expect(spare.link.ofType('task').map((t) => t.jobId)).toEqual([slow.id]);
    slow.cancel('client left');
    expect(spare.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: slow.id }]);
    expect([a.tab.runningJobs, b.tab.runningJobs]).toEqual([0, 0]);
  });
});

// The transcript a continuation's signature covers, as both ends compute it.
it('a continued task’s transcript names its prefix', () => {
  const task = { type: 'task' as const, jobId: 'j', ...request(), prefix: [5, 6] };
  expect(JSON.parse(transcriptOf(task, [], { finishReason: 'stop', promptTokens: 1, completionTokens: 2 }))[5]).toEqual([5, 6]);
});
