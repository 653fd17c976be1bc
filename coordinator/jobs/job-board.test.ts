import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SamplingParams, TabToCoordinator } from '../../src/protocol/tab.ts';
import { RecordingLink } from '../../test/unit/tab-peer.ts';
import { TabRegistry } from '../tabs/tab-registry.ts';
import { JobBoard, type Job, type JobEvent, type JobRequest } from './job-board.ts';

type TokenMessage = Extract<TabToCoordinator, { type: 'token' }>;
type DoneMessage = Extract<TabToCoordinator, { type: 'done' }>;

const params: SamplingParams = { maxTokens: 8, temperature: 0.7, topP: 0.9, topK: 40, stop: ['\n'], seed: 7, topLogprobs: 0 };
const request = (model = 'm'): JobRequest => ({ model, messages: [{ role: 'user', content: 'hi' }], params });

const token = (jobId: string, index: number, text: string): TokenMessage => ({
  type: 'token',
  jobId,
  index,
  token: { id: 100 + index, token: text, bytes: [...new TextEncoder().encode(text)], logprob: -0.25 },
  text,
  top: [],
});
const done = (jobId: string, completionTokens: number): DoneMessage => ({ type: 'done', jobId, finishReason: 'stop', text: '', promptTokens: 3, completionTokens });
const withoutJobId = ({ jobId: _jobId, ...event }: TokenMessage | DoneMessage): JobEvent => event;

/** A board over a real registry, on a clock the test moves by hand. */
function network(idleTimeoutMs = 60_000) {
  let clock = 0;
  const logs: string[] = [];
  const registry = new TabRegistry(() => clock);
  const board = new JobBoard({ registry, idleTimeoutMs, now: () => clock, log: (line) => logs.push(line) });
  const addTab = (models: string[] = ['m']) => {
    const link = new RecordingLink();
    const tab = registry.add(link);
    // What the tab's session does when its hello arrives.
    Object.assign(tab, { ready: true, backend: 'wasm', models });
    clock++;
    return { tab, link };
  };
  const startJob = (id?: string) => {
    const job = board.start(request(), id);
    if (!job) throw new Error('expected a tab to take the job');
    return job;
  };
  return { registry, board, logs, addTab, startJob, tick: (ms: number) => (clock += ms) };
}

async function drain(job: Job): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for await (const event of job.events) events.push(event);
  return events;
}

describe('JobBoard.start', () => {
  it('sends the task to the picked tab and counts it against that tab', () => {
    const net = network();
    const busy = net.addTab();
    busy.tab.runningJobs = 1;
    const idle = net.addTab();

    const job = net.startJob();

    expect(job.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(job.tab).toEqual({ id: idle.tab.id, backend: 'wasm' });
    expect(idle.link.sent).toEqual([{ type: 'task', jobId: job.id, ...request() }]);
    expect(busy.link.sent).toEqual([]);
    expect(idle.tab.runningJobs).toBe(1);
    expect(net.board.size).toBe(1);
  });

  it('returns null and sends nothing when no ready tab serves the model', () => {
    const net = network();
    const other = net.addTab(['other']);
    const notReady = net.registry.add(new RecordingLink());
    notReady.models = ['m'];

    expect(net.board.start(request('m'))).toBeNull();
    expect(other.link.sent).toEqual([]);
    expect(net.board.size).toBe(0);
  });
});

describe('JobBoard.handle', () => {
  it('routes tokens in order, ends after done and releases the tab', async () => {
    const net = network();
    const { tab } = net.addTab();
    const job = net.startJob();
    const messages = [token(job.id, 0, 'Hel'), token(job.id, 1, 'lo'), done(job.id, 2)];

    for (const message of messages) net.board.handle(tab, message);

    expect(await drain(job)).toEqual(messages.map(withoutJobId));
    expect(tab.runningJobs).toBe(0);
    expect(net.board.size).toBe(0);
  });

  it('delivers events pushed while the consumer is already waiting', async () => {
    const net = network();
    const { tab } = net.addTab();
    const job = net.startJob();
    const events = drain(job);

    net.board.handle(tab, token(job.id, 0, 'a'));
    await Promise.resolve();
    net.board.handle(tab, done(job.id, 1));

    expect((await events).map((e) => e.type)).toEqual(['token', 'done']);
  });

  it('fails the job with protocol_error and cancels it on the tab when a token index is out of order', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const job = net.startJob();

    net.board.handle(tab, token(job.id, 0, 'a'));
    net.board.handle(tab, token(job.id, 2, 'c'));
    net.board.handle(tab, token(job.id, 1, 'b')); // too late: the job has ended

    const events = await drain(job);
    expect(events.map((e) => e.type)).toEqual(['token', 'failed']);
    expect(events[1]).toMatchObject({ type: 'failed', code: 'protocol_error' });
    expect(link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: job.id }]);
    expect(tab.runningJobs).toBe(0);
  });

  it('drops messages a tab sends for a job that belongs to another tab', async () => {
    const net = network();
    const owner = net.addTab();
    const job = net.startJob();
    const intruder = net.addTab();

    net.board.handle(intruder.tab, token(job.id, 0, 'forged'));
    net.board.handle(intruder.tab, done(job.id, 1));
    expect(net.board.size).toBe(1);
    expect(owner.tab.runningJobs).toBe(1);
    expect(net.logs.some((line) => line.includes(intruder.tab.id) && line.includes(job.id))).toBe(true);

    // The owner's stream is untouched: its token 0 is still the one expected.
    net.board.handle(owner.tab, token(job.id, 0, 'real'));
    net.board.handle(owner.tab, done(job.id, 1));
    expect(await drain(job)).toEqual([withoutJobId(token(job.id, 0, 'real')), withoutJobId(done(job.id, 1))]);
  });

  it('ignores messages for unknown or finished jobs', () => {
    const net = network();
    const { tab } = net.addTab();
    const job = net.startJob();
    net.board.handle(tab, done(job.id, 0));

    expect(() => net.board.handle(tab, token(job.id, 0, 'late'))).not.toThrow();
    expect(() => net.board.handle(tab, token('chatcmpl-unknown', 0, 'x'))).not.toThrow();
    expect(tab.runningJobs).toBe(0);
  });

  it('records the decode speed of a finished job on the tab', async () => {
    const net = network();
    const { tab } = net.addTab();

    const first = net.startJob();
    net.board.handle(tab, token(first.id, 0, 'a'));
    net.tick(2000);
    net.board.handle(tab, done(first.id, 11));
    await drain(first);
    // 10 tokens after the first one, in 2 s.
    expect(tab.tokensPerSecond).toBe(5);
    expect(tab.tokensServed).toBe(10);
    expect(tab.jobsServed).toBe(1);

    const second = net.startJob();
    net.board.handle(tab, token(second.id, 0, 'a'));
    net.tick(1000);
    net.board.handle(tab, done(second.id, 21));
    await drain(second);
    // A moving average: the new 20 tokens/s moves the estimate up, but not all the way.
    expect(tab.tokensPerSecond).toBeCloseTo(0.7 * 5 + 0.3 * 20);
    expect(tab.jobsServed).toBe(2);
  });

  it('counts a job without tokens as served but leaves the speed unmeasured', async () => {
    const net = network();
    const { tab } = net.addTab();
    const job = net.startJob();
    net.board.handle(tab, done(job.id, 0));
    await drain(job);
    expect(tab).toMatchObject({ jobsServed: 1, tokensServed: 0, tokensPerSecond: null });
  });
});

describe('JobBoard.tabClosed', () => {
  it("fails the closed tab's jobs with tab_disconnected and leaves other tabs' jobs running", async () => {
    const net = network();
    const leaving = net.addTab();
    const a = net.startJob();
    const staying = net.addTab();
    const b = net.startJob();
    expect(b.tab.id).toBe(staying.tab.id);

    net.board.tabClosed(leaving.tab);

    expect(await drain(a)).toEqual([{ type: 'failed', code: 'tab_disconnected', message: expect.any(String) }]);
    expect(leaving.tab.runningJobs).toBe(0);
    expect(staying.tab.runningJobs).toBe(1);
    expect(net.board.size).toBe(1);
  });
});

describe('JobBoard idle timeout', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fails a silent job with tab_timeout, cancels it on the tab, and each token restarts the wait', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network(100);
    const { tab, link } = net.addTab();
    const job = net.startJob();

    vi.advanceTimersByTime(99);
    net.board.handle(tab, token(job.id, 0, 'a'));
    vi.advanceTimersByTime(99);
    expect(net.board.size).toBe(1);
    expect(link.ofType('cancel')).toEqual([]);

    vi.advanceTimersByTime(1);

    const events = await drain(job);
    expect(events.at(-1)).toMatchObject({ type: 'failed', code: 'tab_timeout' });
    expect(link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: job.id }]);
    expect(tab.runningJobs).toBe(0);
  });

  it('does not fire after the job has finished', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const net = network(100);
    const { tab, link } = net.addTab();
    const job = net.startJob();
    net.board.handle(tab, done(job.id, 0));

    vi.advanceTimersByTime(1000);

    expect(await drain(job)).toEqual([withoutJobId(done(job.id, 0))]);
    expect(link.ofType('cancel')).toEqual([]);
    expect(tab.runningJobs).toBe(0);
  });
});

describe('Job.cancel', () => {
  it('tells the tab to stop, ends the job as cancelled, and is idempotent', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const job = net.startJob();

    job.cancel('the client closed the connection');
    job.cancel('again');

    expect(await drain(job)).toEqual([{ type: 'failed', code: 'cancelled', message: 'the client closed the connection' }]);
    expect(link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: job.id }]);
    expect(tab.runningJobs).toBe(0);
  });

  it('sends nothing once the job has already ended', async () => {
    const net = network();
    const { tab, link } = net.addTab();
    const job = net.startJob();
    net.board.handle(tab, done(job.id, 0));

    job.cancel('too late');

    expect(await drain(job)).toEqual([withoutJobId(done(job.id, 0))]);
    expect(link.ofType('cancel')).toEqual([]);
    expect(tab.runningJobs).toBe(0);
  });
});
