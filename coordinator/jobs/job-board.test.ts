import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TAB_MESSAGE_CHARS, MAX_TOKENS_PER_MESSAGE, type SamplingParams } from '../../src/protocol/tab.ts';
import { RecordingLink, tokenEntry, tokensMessage } from '../../test/unit/tab-peer.ts';
import { batch, done, drain, flush, network, okJob, range, request, token, tokens, watch, withoutJobId, type JobMessage, type Network } from '../../test/unit/job-board-harness.ts';
import type { Tab } from '../tabs/tab-registry.ts';
import { verifyResultSignature, type Job, type JobRequest } from './job-board.ts';
import { transcriptOf } from '../../src/protocol/identity.ts';

describe('JobBoard.start', () => {
  it('sends the task to an idle tab and counts it against that tab', async () => {
    const net = network();
    const busy = net.addTab();
    const other = await net.occupy(busy.tab);
    const idle = net.addTab();

    const job = await net.startJob();

    expect(job.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(job.tab).toEqual({ id: idle.tab.id, backend: 'wasm', contributorId: idle.tab.contributorId, transport: 'websocket' });
    expect(idle.link.sent).toEqual([{ type: 'task', jobId: job.id, ...request() }]);
    expect(busy.link.ofType('task').map((t) => t.jobId)).toEqual([other.id]);
    expect(idle.tab.runningJobs).toBe(1);
    expect(net.board.size).toBe(2);
    expect(net.board.waitingCount).toBe(0);
  });

  it('uses the id it is given', async () => {
    const net = network();
    const { link } = net.addTab();
    const job = await net.startJob(request(), 'chatcmpl-given');
    expect(job.id).toBe('chatcmpl-given');
    expect(link.ofType('task').map((t) => t.jobId)).toEqual(['chatcmpl-given']);
  });

  it('resolves no_tab, sends nothing and does not wait, when no ready tab serves the model', async () => {
    const net = network();
    const other = net.addTab(['other']);
    const notReadyLink = new RecordingLink();
    const notReady = net.registry.add(notReadyLink);
    net.update(notReady, { models: ['m'] });

    expect(await net.board.start(request('m'))).toEqual({ ok: false, reason: 'no_tab' });
    expect(other.link.sent).toEqual([]);
    expect(notReadyLink.sent).toEqual([]);
    expect(net.board.size).toBe(0);
    expect(net.board.waitingCount).toBe(0);
  });

  it('resolves too_large, at once and without sending, when the task exceeds one tab message', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const id = 'chatcmpl-size';
    const withContent = (content: string): JobRequest => ({ ...request(), messages: [{ role: 'user', content }] });
    // The task as the tab receives it, escaping included.
    const taskChars = (content: string) => JSON.stringify({ type: 'task', jobId: id, ...withContent(content) }).length;
    const fits = 'é"'.repeat(10) + 'x'.repeat(MAX_TAB_MESSAGE_CHARS - taskChars('é"'.repeat(10)));
    expect(taskChars(fits)).toBe(MAX_TAB_MESSAGE_CHARS);

    expect(await net.board.start(withContent(`${fits}x`), { id })).toEqual({ ok: false, reason: 'too_large' });
    expect(link.sent).toEqual([]);
    expect(net.board.waitingCount).toBe(0);

    // Exactly at the limit is fine.
    const job = okJob(await net.board.start(withContent(fits), { id }));
    expect(link.ofType('task').map((t) => t.jobId)).toEqual([job.id]);

    // With every tab busy, an oversized task still fails at once rather than waiting.
    expect(tab.runningJobs).toBe(1);
    expect(await net.board.start(withContent(`${fits}x`), { id: 'chatcmpl-other' })).toEqual({ ok: false, reason: 'too_large' });
    expect(net.board.waitingCount).toBe(0);
  });
});

describe('JobBoard waiting queue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits while every tab serving the model is busy, then hands freed tabs to waiters in arrival order', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const running = await net.startJob(request(), 'job-0');

    const a = watch(net.board.start(request(), { id: 'job-a' }));
    const b = watch(net.board.start(request(), { id: 'job-b' }));
    const c = watch(net.board.start(request(), { id: 'job-c' }));
    await flush();
    expect([a.result, b.result, c.result]).toEqual([null, null, null]);
    expect(net.board.waitingCount).toBe(3);
    expect(link.ofType('task').map((t) => t.jobId)).toEqual(['job-0']);

    net.board.handle(tab, done(running.id, 0));
    await flush();
    const jobA = okJob(a.result);
    expect(jobA).toMatchObject({ id: 'job-a', tab: { id: tab.id } });
    expect([b.result, c.result]).toEqual([null, null]);
    expect(link.ofType('task').map((t) => t.jobId)).toEqual(['job-0', 'job-a']);
    expect(tab.runningJobs).toBe(1);
    expect(net.board.waitingCount).toBe(2);

    jobA.cancel('client left');
    await flush();
    expect(okJob(b.result).id).toBe('job-b');
    expect(c.result).toBeNull();

    net.board.handle(tab, { type: 'failed', jobId: 'job-b', code: 'worker_error', message: 'out of memory' });
    await flush();
    expect(okJob(c.result).id).toBe('job-c');
    expect(link.ofType('task').map((t) => t.jobId)).toEqual(['job-0', 'job-a', 'job-b', 'job-c']);
    expect(net.board.waitingCount).toBe(0);
  });

  it('gives a freed tab to the oldest waiter it can serve, leaving waiters for other models waiting', async () => {
    const net = network();
    const m = net.addTab(['m']);
    const n = net.addTab(['n']);
    const onM = await net.startJob(request('m'));
    await net.startJob(request('n'));

    const forN = watch(net.board.start(request('n'), { id: 'wants-n' }));
    const forM = watch(net.board.start(request('m'), { id: 'wants-m' }));
    net.board.handle(m.tab, done(onM.id, 0));
    await flush();

    expect(okJob(forM.result).tab.id).toBe(m.tab.id);
    expect(forN.result).toBeNull();
    expect(net.board.waitingCount).toBe(1);
    expect(n.link.ofType('task')).toHaveLength(1);
  });

  it('hands a waiter the first tab free to take it, however slow, and the next waiter the next', async () => {
    const net = network();
    const slow = net.addTab();
    const fast = net.addTab();
    // Both resting (to keep to a share of time), so neither may take the requests yet.
    net.update(slow.tab, { speeds: { m: 10 }, restUntil: Infinity });
    net.update(fast.tab, { speeds: { m: 30 }, restUntil: Infinity });
    const first = watch(net.board.start(request(), { id: 'w1' }));
    const second = watch(net.board.start(request(), { id: 'w2' }));
    await flush();
    expect([first.result, second.result]).toEqual([null, null]);

    net.update(slow.tab, { restUntil: -Infinity });
    await flush();
    expect(okJob(first.result).tab.id).toBe(slow.tab.id);
    expect(second.result).toBeNull();
    net.update(fast.tab, { restUntil: -Infinity });
    await flush();
    expect(okJob(second.result).tab.id).toBe(fast.tab.id);
  });

  it('resolves busy after queueTimeoutMs and forgets the waiter', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ queueTimeoutMs: 50 });
    const { tab, link } = net.addTab();
    const running = await net.startJob();
    const waiter = watch(net.board.start(request(), { id: 'late' }));

    vi.advanceTimersByTime(49);
    await flush();
    expect(waiter.result).toBeNull();

    vi.advanceTimersByTime(1);
    await flush();
    expect(waiter.result).toEqual({ ok: false, reason: 'busy' });
    expect(net.board.waitingCount).toBe(0);

    // The tab frees up later: the request that gave up is not sent.
    net.board.handle(tab, done(running.id, 0));
    expect(link.ofType('task').map((t) => t.jobId)).toEqual([running.id]);
    expect(tab.runningJobs).toBe(0);
  });

  it('answers queue_full at once beyond maxWaitingPerModel, per model, with a Retry-After from the jobs ahead and their usual length', async () => {
    const net = network({ maxWaitingPerModel: 2 });
    const { tab } = net.addTab(['m', 'n']);
    // One job of m took 4 s: the usual length of an m job.
    const measured = await net.startJob();
    net.tick(4_000);
    net.board.handle(tab, done(measured.id, 0));
    await net.startJob(); // the tab is busy again
    const waiting = [net.board.start(request()), net.board.start(request())];
    expect(net.board.waitingCount).toBe(2);
    // Two m requests wait already on one tab: a third is refused; it would wait for three m jobs (12 s).
    expect(await net.board.start(request())).toEqual({ ok: false, reason: 'queue_full', retryAfterMs: 12_000 });
    // Another model has a queue of its own (no measured length yet: 5 s a job).
    const other = net.board.start({ ...request(), model: 'n' });
    expect(net.board.waitingCount).toBe(3);
    void waiting;
    void other;
  });

  it('waits 30 seconds by default', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network();
    net.addTab();
    await net.startJob();
    const waiter = watch(net.board.start(request()));

    vi.advanceTimersByTime(29_999);
    await flush();
    expect(waiter.result).toBeNull();
    vi.advanceTimersByTime(1);
    await flush();
    expect(waiter.result).toEqual({ ok: false, reason: 'busy' });
  });

  it('does not time out a waiter once it has been dispatched', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ queueTimeoutMs: 50, idleTimeoutMs: 10_000 });
    const { tab } = net.addTab();
    const running = await net.startJob();
    const waiter = watch(net.board.start(request(), { id: 'w' }));
    vi.advanceTimersByTime(40);
    net.board.handle(tab, done(running.id, 0));
    await flush();

    vi.advanceTimersByTime(100);
    await flush();

    const job = okJob(waiter.result);
    expect(net.board.size).toBe(1);
    net.board.handle(tab, done(job.id, 0));
    expect(await drain(job)).toEqual([withoutJobId(done(job.id, 0))]);
  });

  it('resolves aborted when the signal aborts, removing only that waiter', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const running = await net.startJob();
    const controller = new AbortController();
    const first = watch(net.board.start(request(), { id: 'first' }));
    const quitter = watch(net.board.start(request(), { id: 'quitter', signal: controller.signal }));
    const last = watch(net.board.start(request(), { id: 'last' }));

    controller.abort();
    await flush();
    expect(quitter.result).toEqual({ ok: false, reason: 'aborted' });
    expect(net.board.waitingCount).toBe(2);

    net.board.handle(tab, done(running.id, 0));
    await flush();
    const firstJob = okJob(first.result);
    net.board.handle(tab, done(firstJob.id, 0));
    await flush();
    expect(okJob(last.result).id).toBe('last');
    expect(link.ofType('task').map((t) => t.jobId)).toEqual([running.id, 'first', 'last']);
  });

  it('resolves aborted at once, without waiting, for a signal that has already aborted', async () => {
    const net = network();
    net.addTab();
    await net.startJob();
    expect(await net.board.start(request(), { signal: AbortSignal.abort() })).toEqual({ ok: false, reason: 'aborted' });
    expect(net.board.waitingCount).toBe(0);
  });

  it('resolves no_tab for every waiter when the last tab serving the model closes', async () => {
    const net = network();
    const leaving = net.addTab(['m']);
    const other = net.addTab(['n']);
    const running = await net.startJob();
    await net.startJob(request('n'));
    const a = watch(net.board.start(request()));
    const b = watch(net.board.start(request()));
    const forN = watch(net.board.start(request('n')));

    net.closeTab(leaving.tab);
    await flush();

    expect([a.result, b.result]).toEqual([{ ok: false, reason: 'no_tab' }, { ok: false, reason: 'no_tab' }]);
    expect(forN.result).toBeNull();
    expect(net.board.waitingCount).toBe(1);
    expect(await drain(running)).toEqual([{ type: 'failed', code: 'tab_disconnected', message: expect.any(String) }]);
    expect(other.tab.runningJobs).toBe(1);
  });

  it('keeps waiters waiting when a tab closes but another, busy, tab still serves the model; the closed tab’s job goes first', async () => {
    const net = network();
    const leaving = net.addTab();
    const staying = net.addTab();
    const onLeaving = await net.startJob();
    const onStaying = await net.startJob();
    expect(onStaying.tab.id).toBe(staying.tab.id);
    const waiter = watch(net.board.start(request(), { id: 'w' }));

    net.closeTab(leaving.tab);
    await flush();
    expect(waiter.result).toBeNull();

    net.board.handle(staying.tab, done(onStaying.id, 0));
    await flush();
    expect(waiter.result).toBeNull();
    expect(staying.link.ofType('task').map((t) => t.jobId)).toEqual([onStaying.id, onLeaving.id]);
    net.board.handle(staying.tab, done(onLeaving.id, 0));
    await flush();
    expect(okJob(waiter.result).tab.id).toBe(staying.tab.id);
  });

  it('dispatches a waiter to a tab that becomes ready', async () => {
    const net = network();
    net.addTab();
    await net.startJob();
    const waiter = watch(net.board.start(request(), { id: 'w' }));

    const link = new RecordingLink();
    const newcomer = net.registry.add(link);
    net.board.dispatchWaiting(); // not ready yet: nothing to hand it
    await flush();
    expect(waiter.result).toBeNull();
    expect(link.sent).toEqual([]);

    net.update(newcomer, { ready: true, backend: 'wasm', models: ['m'] });
    await flush();
    expect(okJob(waiter.result).tab.id).toBe(newcomer.id);
    expect(link.ofType('task').map((t) => t.jobId)).toEqual(['w']);
  });
});

describe('JobBoard.handle', () => {
  it('routes tokens in order, ends after done and releases the tab', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const job = await net.startJob();
    const messages = [token(job.id, 0, 'Hel'), token(job.id, 1, 'lo'), done(job.id, 2)];

    for (const message of messages) net.board.handle(tab, message);

    expect(await drain(job)).toEqual(messages.map(withoutJobId));
    expect(tab.runningJobs).toBe(0);
    expect(net.board.size).toBe(0);
    expect(link.closes).toEqual([]);
    expect(tab.ready).toBe(true);
  });

  it('delivers events pushed while the consumer is already waiting', async () => {
    const net = network();
    const { tab } = net.addTab();
    const job = await net.startJob();
    const events = drain(job);

    net.board.handle(tab, token(job.id, 0, 'a'));
    await Promise.resolve();
    net.board.handle(tab, done(job.id, 1));

    expect((await events).map((e) => e.type)).toEqual(['tokens', 'done']);
  });

  it('passes a failure the tab reports through, and keeps the tab', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const job = await net.startJob();
    net.board.handle(tab, token(job.id, 0));
    net.board.handle(tab, { type: 'failed', jobId: job.id, code: 'cancelled', message: 'stopped by the contributor' });

    expect((await drain(job)).at(-1)).toEqual({ type: 'failed', code: 'cancelled', message: 'stopped by the contributor' });
    expect(tab).toMatchObject({ ready: true, runningJobs: 0, jobsServed: 0 });
    expect(link.closes).toEqual([]);
    expect(link.ofType('cancel')).toEqual([]);
  });

  it('drops messages a tab sends for a job that belongs to another tab', async () => {
    const net = network();
    const owner = net.addTab();
    const job = await net.startJob();
    const intruder = net.addTab();

    net.board.handle(intruder.tab, token(job.id, 3, 'forged'));
    net.board.handle(intruder.tab, batch(job.id, [0, 1])); // a valid continuation, but not the intruder's job
    net.board.handle(intruder.tab, done(job.id, 1));
    expect(net.board.size).toBe(1);
    expect(owner.tab.runningJobs).toBe(1);
    expect(net.logs.some((line) => line.includes(intruder.tab.id) && line.includes(job.id))).toBe(true);
    expect([owner.link.closes, intruder.link.closes]).toEqual([[], []]);

    // The owner's stream is untouched: its token 0 is still the one expected.
    net.board.handle(owner.tab, token(job.id, 0, 'real'));
    net.board.handle(owner.tab, done(job.id, 1));
    expect(await drain(job)).toEqual([withoutJobId(token(job.id, 0, 'real')), withoutJobId(done(job.id, 1))]);
  });

  it('ignores messages for unknown or finished jobs', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const job = await net.startJob();
    net.board.handle(tab, done(job.id, 0));

    expect(() => net.board.handle(tab, token(job.id, 0, 'late'))).not.toThrow();
    expect(() => net.board.handle(tab, token('chatcmpl-unknown', 5, 'x'))).not.toThrow();
    expect(tab.runningJobs).toBe(0);
    expect(link.closes).toEqual([]);
    expect(tab.ready).toBe(true);
  });

  it('records the decode speed of a finished job from the streamed tokens after the first', async () => {
    const net = network();
    const { tab } = net.addTab();

    const first = await net.startJob(request('m', { maxTokens: 64 }));
    net.tick(700); // the wait for the first token (prefill) does not count
    net.board.handle(tab, token(first.id, 0));
    net.tick(500);
    for (const message of tokens(first.id, 11).slice(1)) net.board.handle(tab, message);
    net.tick(2000);
    // 11 streamed plus an end-of-sequence token that is not streamed.
    net.board.handle(tab, done(first.id, 12));
    await drain(first);
    // 10 tokens after the first one, from the first token to done.
    expect(tab.tokensPerSecond).toBe(10 / 2.5);
    expect(tab.tokensServed).toBe(11);
    expect(tab.jobsServed).toBe(1);

    const second = await net.startJob(request('m', { maxTokens: 64 }));
    for (const message of tokens(second.id, 21)) net.board.handle(tab, message);
    net.tick(1000);
    net.board.handle(tab, done(second.id, 21));
    await drain(second);
    // A moving average: the new 20 tokens/s moves the estimate up, but not all the way.
    expect(tab.tokensPerSecond).toBeCloseTo(0.7 * 4 + 0.3 * 20);
    expect(tab.tokensServed).toBe(32);
    expect(tab.jobsServed).toBe(2);
  });

  it('delivers a batch as one event, its tokens in order, and continues the stream after it', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const job = await net.startJob();
    const messages = [token(job.id, 0, 'Hel'), tokensMessage(job.id, [tokenEntry(1, 'lo'), tokenEntry(2, ','), tokenEntry(3, ' you')]), token(job.id, 4, '!'), done(job.id, 5)];

    for (const message of messages) net.board.handle(tab, message);

    const events = await drain(job);
    expect(events).toEqual(messages.map(withoutJobId));
    expect(events.flatMap((e) => (e.type === 'tokens' ? e.tokens.map((t) => t.text) : []))).toEqual(['Hel', 'lo', ',', ' you', '!']);
    expect(link.closes).toEqual([]);
    expect(tab).toMatchObject({ ready: true, runningJobs: 0, jobsServed: 1, tokensServed: 5 });
  });

  it('counts every token of a batch in the decode speed', async () => {
    const net = network();
    const { tab } = net.addTab();
    const job = await net.startJob(request('m', { maxTokens: 64 }));
    net.tick(700); // prefill
    net.board.handle(tab, token(job.id, 0));
    net.tick(1000);
    net.board.handle(tab, batch(job.id, range(1, 6)));
    net.tick(1500);
    net.board.handle(tab, batch(job.id, range(7, 5)));
    net.board.handle(tab, done(job.id, 12));
    await drain(job);
    // 11 tokens after the first, over the 2.5 s from the first token to done.
    expect(tab).toMatchObject({ tokensServed: 12, jobsServed: 1, tokensPerSecond: 11 / 2.5 });
  });

  it('counts jobs of zero or one streamed token as served but leaves the speed unmeasured', async () => {
    const net = network();
    const { tab } = net.addTab();
    const empty = await net.startJob();
    net.board.handle(tab, done(empty.id, 1)); // only an end-of-sequence token
    await drain(empty);
    const single = await net.startJob();
    net.board.handle(tab, token(single.id, 0));
    net.tick(1000);
    net.board.handle(tab, done(single.id, 1));
    await drain(single);
    expect(tab).toMatchObject({ jobsServed: 2, tokensServed: 1, tokensPerSecond: null });
  });
});

/** A tab that broke the job's contract: the job failed with `code`, the tab was told to stop and disconnected. */
async function expectExpelled(net: Network, peer: { tab: Tab; link: RecordingLink }, job: Job, code: 'protocol_error' | 'tab_timeout') {
  const events = await drain(job);
  expect(events.at(-1)).toEqual({ type: 'failed', code, message: expect.any(String) });
  // RecordingLink drops what is sent after close: the cancel must go out first.
  expect(peer.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: job.id }]);
  expect(peer.link.closes).toEqual([code]);
  expect(peer.tab.ready).toBe(false);
  expect(peer.tab.runningJobs).toBe(0);
  expect(peer.tab.jobsServed).toBe(0);
  expect(net.board.size).toBe(0);
  expect(net.logs.some((line) => line.includes(peer.tab.id) && line.includes(code) && line.includes(job.id))).toBe(true);
  return events;
}

describe('the tab contract', () => {
  const violations: Array<[string, Partial<SamplingParams>, (jobId: string) => JobMessage[]]> = [
    ['a first token other than 0', {}, (id) => [token(id, 1)]],
    ['a token index that skips ahead', {}, (id) => [token(id, 0), token(id, 2)]],
    ['a repeated token index', {}, (id) => [token(id, 0), token(id, 1), token(id, 1)]],
    ['a token at index max_tokens', { maxTokens: 2 }, (id) => [token(id, 0), token(id, 1), token(id, 2)]],
    ['more alternatives than top_logprobs', { topLogprobs: 2 }, (id) => [token(id, 0, 'a', 2), token(id, 1, 'b', 3)]],
    ['alternatives when none were asked for', { topLogprobs: 0 }, (id) => [token(id, 0, 'a', 1)]],
    ['fewer alternatives than top_logprobs', { topLogprobs: 2 }, (id) => [token(id, 0, 'a', 2), token(id, 1, 'b', 1)]],
    ['done with fewer completion tokens than streamed', {}, (id) => [token(id, 0), token(id, 1), done(id, 1)]],
    ['done with more than one unstreamed completion token', {}, (id) => [token(id, 0), done(id, 3)]],
    ['done with completion tokens for nothing streamed', {}, (id) => [done(id, 2)]],
    ['done with more completion tokens than max_tokens', { maxTokens: 2 }, (id) => [token(id, 0), token(id, 1), done(id, 3)]],
    ['done with an empty prompt', {}, (id) => [token(id, 0), done(id, 1, 0)]],
    ['a first batch whose indices skip', {}, (id) => [batch(id, [0, 1, 3])]],
    ['a batch whose indices skip', {}, (id) => [token(id, 0), batch(id, [1, 2, 4])]],
    ['a batch that repeats an index', {}, (id) => [token(id, 0), batch(id, [1, 2, 2, 3])]],
    ['a batch out of order', {}, (id) => [token(id, 0), batch(id, [2, 1])]],
    ['a batch starting at an index already streamed', {}, (id) => [token(id, 0), batch(id, [1, 2]), batch(id, [2, 3])]],
    ['a batch restarting from 0', {}, (id) => [token(id, 0), batch(id, [1, 2]), batch(id, [0, 1, 2])]],
    ['a batch starting past the next index', {}, (id) => [token(id, 0), batch(id, [2, 3])]],
    ['a single token skipping ahead after a batch', {}, (id) => [token(id, 0), batch(id, [1, 2]), token(id, 4)]],
    ['a single token repeating the end of a batch', {}, (id) => [token(id, 0), batch(id, [1, 2]), token(id, 2)]],
    ['a batch crossing max_tokens', { maxTokens: 4 }, (id) => [token(id, 0), batch(id, [1, 2, 3, 4])]],
    ['a batch starting at max_tokens', { maxTokens: 3 }, (id) => [token(id, 0), batch(id, [1, 2]), batch(id, [3])]],
    ['a batch with one token over top_logprobs', { topLogprobs: 1 }, (id) => [token(id, 0, 'a', 1), tokensMessage(id, [tokenEntry(1, 'b', 1), tokenEntry(2, 'c', 2), tokenEntry(3, 'd', 0)])]],
    ['done after batches with fewer completion tokens than streamed', {}, (id) => [token(id, 0), batch(id, [1, 2, 3]), done(id, 3)]],
    ['done after batches with more than one unstreamed completion token', {}, (id) => [token(id, 0), batch(id, [1, 2, 3]), done(id, 6)]],
    ['done after batches with more completion tokens than max_tokens', { maxTokens: 4 }, (id) => [token(id, 0), batch(id, [1, 2, 3]), done(id, 5)]],
  ];

  it.each(violations)('expels a tab that sends %s', async (_name, overrides, script) => {
    const net = network();
    const peer = net.addTab();
    const job = await net.startJob(request('m', overrides));
    const messages = script(job.id);

    for (const message of messages) net.board.handle(peer.tab, message);

    const events = await expectExpelled(net, peer, job, 'protocol_error');
    // Everything before the violation was delivered; nothing of the message that broke the contract was.
    expect(events.slice(0, -1)).toEqual(messages.slice(0, -1).map(withoutJobId));
  });

  it("expels a tab whose stream the job's stream check rejects (text that is not its tokens'), tokens or ending", async () => {
    for (const bad of ['tokens', 'done'] as const) {
      const net = network({ streamCheck: () => ({ tokens: (e) => (bad === 'tokens' && e[0]?.index === 1 ? 'made-up text' : null), done: () => (bad === 'done' ? 'wrong tail' : null) }) });
      const peer = net.addTab();
      const job = await net.startJob();
      for (const message of [token(job.id, 0), token(job.id, 1), done(job.id, 2)]) net.board.handle(peer.tab, message);
      const events = await expectExpelled(net, peer, job, 'protocol_error');
      expect(events.at(-1)).toMatchObject({ type: 'failed', message: bad === 'tokens' ? 'made-up text' : 'wrong tail' });
    }
  });

  it('delivers none of a batch that breaks the contract, not even its valid leading tokens', async () => {
    const net = network();
    const peer = net.addTab();
    const job = await net.startJob();

    net.board.handle(peer.tab, token(job.id, 0));
    net.board.handle(peer.tab, batch(job.id, [1, 2, 3, 5, 6]));
    net.board.handle(peer.tab, batch(job.id, [1, 2, 3])); // too late: the job is over

    const events = await expectExpelled(net, peer, job, 'protocol_error');
    expect(events.flatMap((e) => (e.type === 'tokens' ? e.tokens.map((t) => t.index) : []))).toEqual([0]);
    // The message names the offending index, then the one expected.
    expect(events.at(-1)).toMatchObject({ message: expect.stringMatching(/\b5\b.*\b4\b/) });
  });

  const withinContract: Array<[string, Partial<SamplingParams>, (jobId: string) => JobMessage[]]> = [
    ['done counting only the streamed tokens', {}, (id) => [token(id, 0), token(id, 1), done(id, 2)]],
    ['done counting one unstreamed end-of-sequence token', {}, (id) => [token(id, 0), token(id, 1), done(id, 3)]],
    ['an immediate end-of-sequence', {}, (id) => [done(id, 1)]],
    ['no tokens at all', {}, (id) => [done(id, 0)]],
    ['exactly max_tokens tokens', { maxTokens: 2 }, (id) => [token(id, 0), token(id, 1), done(id, 2)]],
    ['exactly top_logprobs alternatives', { topLogprobs: 2 }, (id) => [token(id, 0, 'a', 2), token(id, 1, 'b', 2), done(id, 2)]],
    ['a one-token prompt', {}, (id) => [token(id, 0), done(id, 1, 1)]],
    ['a batch after the first token', {}, (id) => [token(id, 0), batch(id, [1, 2, 3]), done(id, 4)]],
    ['single and batched messages mixed', {}, (id) => [token(id, 0), batch(id, [1, 2]), token(id, 3), batch(id, [4, 5, 6]), token(id, 7), done(id, 8)]],
    ['done after batches counting one unstreamed end-of-sequence token', {}, (id) => [token(id, 0), batch(id, [1, 2, 3]), done(id, 5)]],
    ['a batch ending exactly at max_tokens', { maxTokens: 4 }, (id) => [token(id, 0), batch(id, [1, 2, 3]), done(id, 4)]],
    [`a batch of MAX_TOKENS_PER_MESSAGE (${MAX_TOKENS_PER_MESSAGE}) tokens`, { maxTokens: MAX_TOKENS_PER_MESSAGE + 1 }, (id) => [token(id, 0), batch(id, range(1, MAX_TOKENS_PER_MESSAGE)), done(id, MAX_TOKENS_PER_MESSAGE + 1)]],
    ['exactly top_logprobs alternatives on every token of a batch', { topLogprobs: 2 }, (id) => [token(id, 0, 'a', 2), batch(id, [1, 2, 3], 2), done(id, 4)]],
  ];

  it.each(withinContract)('accepts %s', async (_name, overrides, script) => {
    const net = network();
    const { tab, link } = net.addTab();
    const job = await net.startJob(request('m', overrides));
    const messages = script(job.id);

    for (const message of messages) net.board.handle(tab, message);

    expect(await drain(job)).toEqual(messages.map(withoutJobId));
    expect(link.closes).toEqual([]);
    expect(link.ofType('cancel')).toEqual([]);
    expect(tab).toMatchObject({ ready: true, runningJobs: 0, jobsServed: 1 });
  });

  it('ignores what an expelled tab sends afterwards', async () => {
    const net = network();
    const peer = net.addTab();
    const job = await net.startJob();
    net.board.handle(peer.tab, token(job.id, 1));
    net.board.handle(peer.tab, token(job.id, 0));
    net.board.handle(peer.tab, done(job.id, 1));

    await expectExpelled(net, peer, job, 'protocol_error');
  });

  it('gives an expelled tab no new work: waiting requests go to another tab', async () => {
    const net = network();
    const cheat = net.addTab();
    const honest = net.addTab();
    net.update(cheat.tab, { speeds: { m: 1000 } }); // the scheduler's favourite, were it allowed
    const onCheat = await net.startJob();
    const onHonest = await net.startJob();
    expect([onCheat.tab.id, onHonest.tab.id]).toEqual([cheat.tab.id, honest.tab.id]);
    const waiter = watch(net.board.start(request(), { id: 'w' }));

    net.board.handle(cheat.tab, token(onCheat.id, 5));
    await flush();
    expect(waiter.result).toBeNull();
    expect(cheat.link.ofType('task')).toHaveLength(1);

    net.board.handle(honest.tab, done(onHonest.id, 0));
    await flush();
    expect(okJob(waiter.result).tab.id).toBe(honest.tab.id);
    expect((await drain(onCheat)).at(-1)).toMatchObject({ type: 'failed', code: 'protocol_error' });
    expect(cheat.link.closes).toEqual(['protocol_error']);
    expect(cheat.link.ofType('task')).toHaveLength(1);
  });
});

describe('JobBoard idle timeout', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expels a silent tab with tab_timeout, and each token restarts the wait', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ idleTimeoutMs: 100 });
    const peer = net.addTab();
    const job = await net.startJob();

    vi.advanceTimersByTime(99);
    net.board.handle(peer.tab, token(job.id, 0, 'a'));
    vi.advanceTimersByTime(99);
    expect(net.board.size).toBe(1);
    expect(peer.link.ofType('cancel')).toEqual([]);
    expect(peer.link.closes).toEqual([]);

    vi.advanceTimersByTime(1);

    const events = await expectExpelled(net, peer, job, 'tab_timeout');
    expect(events.map((e) => e.type)).toEqual(['tokens', 'failed']);
  });

  it('restarts the wait on a batch as on a single token', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ idleTimeoutMs: 100 });
    const peer = net.addTab();
    const job = await net.startJob();

    vi.advanceTimersByTime(99);
    net.board.handle(peer.tab, token(job.id, 0));
    vi.advanceTimersByTime(99);
    net.board.handle(peer.tab, batch(job.id, [1, 2, 3]));
    vi.advanceTimersByTime(99);
    expect(net.board.size).toBe(1);
    expect(peer.link.closes).toEqual([]);

    vi.advanceTimersByTime(1);

    const events = await expectExpelled(net, peer, job, 'tab_timeout');
    expect(events.map((e) => e.type)).toEqual(['tokens', 'tokens', 'failed']);
  });

  it('does not fire after the job has finished', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network({ idleTimeoutMs: 100 });
    const { tab, link } = net.addTab();
    const job = await net.startJob();
    net.board.handle(tab, done(job.id, 0));

    vi.advanceTimersByTime(1000);

    expect(await drain(job)).toEqual([withoutJobId(done(job.id, 0))]);
    expect(link.ofType('cancel')).toEqual([]);
    expect(link.closes).toEqual([]);
    expect(tab).toMatchObject({ ready: true, runningJobs: 0 });
  });
});

describe('JobBoard.tabClosed', () => {
  it("fails the closed tab's jobs with tab_disconnected when no other tab serves the model, and leaves other tabs' jobs running", async () => {
    const net = network();
    const leaving = net.addTab(['m', 'solo']);
    const a = await net.startJob(request('solo'));
    const staying = net.addTab();
    const b = await net.startJob();
    expect(b.tab.id).toBe(staying.tab.id);

    net.closeTab(leaving.tab);

    expect(await drain(a)).toEqual([{ type: 'failed', code: 'tab_disconnected', message: expect.any(String) }]);
    expect(leaving.tab.runningJobs).toBe(0);
    expect(staying.tab.runningJobs).toBe(1);
    expect(net.board.size).toBe(1);
  });
});

describe('Job.cancel', () => {
  it('tells the tab to stop, ends the job as client_closed_request, keeps the tab, and is idempotent', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const job = await net.startJob();

    job.cancel('the client closed the connection');
    job.cancel('again');

    expect(await drain(job)).toEqual([{ type: 'failed', code: 'client_closed_request', message: 'the client closed the connection' }]);
    expect(link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: job.id }]);
    expect(link.closes).toEqual([]);
    expect(tab).toMatchObject({ ready: true, runningJobs: 0 });
  });

  it('sends nothing once the job has already ended', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const job = await net.startJob();
    net.board.handle(tab, done(job.id, 0));

    job.cancel('too late');

    expect(await drain(job)).toEqual([withoutJobId(done(job.id, 0))]);
    expect(link.ofType('cancel')).toEqual([]);
    expect(tab.runningJobs).toBe(0);
  });
});

describe('result signatures', () => {
  it('asks the verifier about the transcript of exactly what was sent and streamed', async () => {
    const seen: Array<{ tabId: string; transcript: string; signature: string }> = [];
    const net = network({ verifyResult: (tab, transcript, signature) => (seen.push({ tabId: tab.id, transcript, signature }), true) });
    const { tab } = net.addTab();
    const req = request();
    const job = await net.startJob(req, 'job-1');
    net.board.handle(tab, token(job.id, 0));
    net.board.handle(tab, batch(job.id, [1, 2]));
    net.board.handle(tab, { ...done(job.id, 3, 5), signature: 'sig' });

    const streamed = [0, 1, 2].map((i) => ({ id: tokenEntry(i).token.id, logprob: tokenEntry(i).token.logprob }));
    const expected = transcriptOf({ jobId: 'job-1', ...req }, streamed, { finishReason: 'stop', promptTokens: 5, completionTokens: 3 });
    expect(seen).toEqual([{ tabId: tab.id, transcript: expected, signature: 'sig' }]);
    expect((await drain(job)).at(-1)).toEqual({ type: 'done', finishReason: 'stop', text: '', promptTokens: 5, completionTokens: 3 });
  });

  it('fails the job and disconnects a tab whose signature does not verify', async () => {
    const net = network({ verifyResult: () => false });
    const { tab, link } = net.addTab();
    const job = await net.startJob();
    net.board.handle(tab, token(job.id, 0));
    net.board.handle(tab, done(job.id, 1));

    expect((await drain(job)).at(-1)).toEqual({ type: 'failed', code: 'protocol_error', message: expect.stringMatching(/signature/) });
    expect(link.closes).toEqual(['protocol_error']);
    expect(tab.ready).toBe(false);
  });

  it('by default checks Ed25519 with the key the tab proved, and refuses a tab without one', async () => {
    const net = network({ verifyResult: verifyResultSignature });
    const { tab } = net.addTab();
    expect(tab.publicKey).toBeNull();
    const job = await net.startJob();
    net.board.handle(tab, done(job.id, 0));
    expect(await drain(job)).toEqual([{ type: 'failed', code: 'protocol_error', message: expect.stringMatching(/signature/) }]);
  });
});

describe('JobBoard.dataChannelLost', () => {
  it('resumes a job from the next token index, or resends a task that streamed nothing', async () => {
    const net = network();
    const a = net.addTab();
    const b = net.addTab();
    const onA = await net.startJob(request(), 'on-a');
    const onB = await net.startJob(request(), 'on-b');
    expect([onA.tab.id, onB.tab.id]).toEqual([a.tab.id, b.tab.id]);
    net.board.handle(a.tab, token(onA.id, 0));
    net.board.handle(a.tab, batch(onA.id, [1, 2]));

    net.board.dataChannelLost(a.tab);
    net.board.dataChannelLost(b.tab);
    expect(a.link.sent.at(-1)).toEqual({ type: 'resume', jobId: 'on-a', from: 3 });
    expect(b.link.ofType('task').map((t) => t.jobId)).toEqual(['on-b', 'on-b']);

    // The tab goes on from index 3 and the job ends normally.
    net.board.handle(a.tab, batch(onA.id, [3, 4]));
    net.board.handle(a.tab, done(onA.id, 5));
    const events = await drain(onA);
    expect(events.flatMap((e): Array<number | string> => (e.type === 'tokens' ? e.tokens.map((t) => t.index) : [e.type]))).toEqual([0, 1, 2, 3, 4, 'done']);
    expect(a.link.closes).toEqual([]);
  });
});
