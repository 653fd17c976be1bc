import { describe, expect, it } from 'vitest';
import { MAX_TAB_MESSAGE_CHARS, MAX_TOKENS_PER_MESSAGE, type IdentityProof, type SamplingParams } from '../../src/protocol/tab.ts';
import { helloFrame, helloMessage, RecordingLink, signingTab, TestIdentity, tokenEntry, tokensMessage } from '../../test/unit/tab-peer.ts';
import { JobBoard, type Job, type JobEvent, type StartResult } from '../jobs/job-board.ts';
import { TabRegistry } from '../tabs/tab-registry.ts';
import { openTabSession } from './tab-session.ts';
import type { Link } from './link.ts';

const KNOWN = ['m1', 'm2'];
const params: SamplingParams = { maxTokens: 4, temperature: 0, topP: 1, topK: 0, stop: [], seed: 1, topLogprobs: 0 };
const request = (model = 'm1') => ({ model, messages: [{ role: 'user' as const, content: 'hi' }], params });

/** A registry and board shared by any number of tab sessions, each over its own recording link. */
function coordinator() {
  const registry = new TabRegistry();
  // One job per tab, so a busy tab makes requests wait (job-board-queues.test.ts covers queues per tab).
  const board = new JobBoard({ registry, idleTimeoutMs: 60_000, jobsPerTab: 1 });
  const logs: string[] = [];
  /** A tab whose `hello` and `done` frames are completed with a real proof and signature (see `signingTab`). */
  const connectTab = (identity?: TestIdentity) => {
    const link = new RecordingLink();
    const opened = openTabSession(link, { registry, board, knownModels: () => new Set(KNOWN), log: (line) => logs.push(line) });
    const signer = signingTab(link, (raw) => opened.receive(raw), identity);
    const session = { tab: opened.tab, closed: () => opened.closed(), receive: signer.receive, receiveAsIs: (raw: unknown, via?: Link) => opened.receive(raw, via) };
    return { link, session, identity: signer.identity, errors: () => link.ofType('error') };
  };
  return { registry, board, logs, connectTab };
}

function connect() {
  const net = coordinator();
  return { ...net, ...net.connectTab() };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Watches a start without awaiting it, so a test can check that it is still waiting. */
function watch(promise: Promise<StartResult>) {
  const state: { result: StartResult | null } = { result: null };
  void promise.then((result) => (state.result = result));
  return state;
}

async function startedJob(promise: Promise<StartResult>): Promise<Job> {
  const result = await promise;
  if (!result.ok) throw new Error(`the tab should have taken the job, got ${result.reason}`);
  return result.job;
}

async function drain(job: Job): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for await (const event of job.events) events.push(event);
  return events;
}

/** A `tokens` frame carrying the tokens at `indices`, in that order. */
const tokensFrame = (jobId: string, indices: number[]) => JSON.stringify(tokensMessage(jobId, indices.map((i) => tokenEntry(i, 'a'))));
const tokenFrame = (jobId: string, index: number) => tokensFrame(jobId, [index]);
const doneFrame = (jobId: string, completionTokens: number) => JSON.stringify({ type: 'done', jobId, finishReason: 'stop', text: '', promptTokens: 1, completionTokens });

const jobFrames = {
  tokens: tokenFrame('j1', 0),
  done: JSON.stringify({ type: 'done', jobId: 'j1', finishReason: 'stop', text: '', promptTokens: 1, completionTokens: 1, signature: 'S'.repeat(86) }),
  failed: JSON.stringify({ type: 'failed', jobId: 'j1', code: 'worker_error', message: 'oops' }),
  models: JSON.stringify({ type: 'models', models: ['m1'] }),
  status: JSON.stringify({ type: 'status', hidden: true }),
};

describe('openTabSession', () => {
  it('registers the tab, not ready, and welcomes it with its id', () => {
    const { registry, link, session } = connect();
    expect(link.sent).toEqual([{ type: 'welcome', tabId: session.tab.id, challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) }]);
    expect(registry.get(session.tab.id)).toBe(session.tab);
    expect(session.tab.ready).toBe(false);
    expect(registry.ready()).toEqual([]);
  });

  it('becomes ready for its known models on hello', () => {
    const { registry, session, errors } = connect();
    session.receive(JSON.stringify({ ...helloMessage(['m2', 'm1'], 'webgpu'), limits: { maxBufferSize: 1024, maxStorageBufferBindingSize: 512 } }));
    expect(errors()).toEqual([]);
    expect(session.tab).toMatchObject({ ready: true, backend: 'webgpu', models: ['m2', 'm1'], limits: { maxBufferSize: 1024, maxStorageBufferBindingSize: 512 } });
    expect(registry.ready()).toEqual([session.tab]);
  });

  const badFrames: Array<[string, unknown]> = [
    ['malformed JSON', '{"type":"hello",'],
    ['a JSON value of the wrong shape', JSON.stringify({ type: 'hello', protocol: 1 })],
    ['an unknown message type', JSON.stringify({ type: 'teleport' })],
    ['a JSON array', '[]'],
    ['an oversized frame', JSON.stringify({ ...helloMessage(['m1']), padding: 'x'.repeat(MAX_TAB_MESSAGE_CHARS) })],
    ['a binary frame', new TextEncoder().encode(helloFrame(['m1'])).buffer],
    ['a non-frame value', 42],
    ['nothing at all', undefined],
  ];

  it.each(badFrames)('answers %s with an invalid_message error and stays usable', (_name, frame) => {
    const { session, errors } = connect();

    expect(() => session.receive(frame)).not.toThrow();
    expect(errors()).toEqual([{ type: 'error', code: 'invalid_message', message: expect.any(String) }]);
    expect(session.tab.ready).toBe(false);

    session.receive(helloFrame(['m1']));
    expect(session.tab.ready).toBe(true);
    expect(errors()).toHaveLength(1);
  });

  it('reports the size limit when a frame is too large', () => {
    const { session, errors } = connect();
    session.receive(' '.repeat(MAX_TAB_MESSAGE_CHARS + 1));
    expect(errors()[0]?.message).toContain(String(MAX_TAB_MESSAGE_CHARS));
  });

  it.each(Object.entries(jobFrames))('rejects %s before hello as out_of_order', (_type, frame) => {
    const { session, board, errors } = connect();
    session.receive(frame);
    expect(errors()).toEqual([{ type: 'error', code: 'out_of_order', message: expect.any(String) }]);
    expect(session.tab.models).toEqual([]);
    expect(board.size).toBe(0);
  });

  it('keeps only known models from hello and models, and reports the rest', () => {
    const { session, errors } = connect();

    session.receive(helloFrame(['m1', 'ghost']));
    expect(session.tab.models).toEqual(['m1']);
    expect(session.tab.ready).toBe(true);
    expect(errors()).toEqual([{ type: 'error', code: 'unknown_model', message: expect.stringContaining('ghost') }]);

    session.receive(JSON.stringify({ type: 'models', models: ['phantom', 'm2'] }));
    expect(session.tab.models).toEqual(['m2']);
    expect(errors()[1]).toEqual({ type: 'error', code: 'unknown_model', message: expect.stringContaining('phantom') });
  });

  it('forgets that a tab failed to load a model once it reports holding it', () => {
    const { session } = connect();
    session.receive(helloFrame(['m1']));
    session.tab.loadFailed = ['m1', 'm2'];
    session.receive(JSON.stringify({ type: 'models', models: ['m2'] }));
    expect(session.tab.loadFailed).toEqual(['m1']);
  });

  it('keeps whether the tab is hidden, as it reports, and shows it in the status', () => {
    const { registry, session } = connect();
    session.receive(helloFrame(['m1']));
    expect(session.tab.hidden).toBe(false);
    session.receive(JSON.stringify({ type: 'status', hidden: true }));
    expect(session.tab.hidden).toBe(true);
    expect(registry.status()[0]).toMatchObject({ hidden: true });
    session.receive(JSON.stringify({ type: 'status', hidden: false }));
    expect(session.tab.hidden).toBe(false);
  });

  it('keeps the models the tab has cached and its calibration speeds, and refuses a status with a bad speed', () => {
    const { registry, session, errors } = connect();
    session.receive(helloFrame(['m1']));
    session.receive(JSON.stringify({ type: 'status', hidden: false, cached: ['m1', 'm2'], calibration: { m1: 42.5 } }));
    expect(session.tab).toMatchObject({ cached: ['m1', 'm2'], calibration: { m1: 42.5 } });
    expect(registry.status()[0]).toMatchObject({ cached: ['m1', 'm2'], calibration: { m1: 42.5 } });
    // Fields left out keep what the tab said before.
    session.receive(JSON.stringify({ type: 'status', hidden: true }));
    expect(session.tab).toMatchObject({ hidden: true, cached: ['m1', 'm2'], calibration: { m1: 42.5 } });
    for (const calibration of [{ m1: -1 }, { m1: 0 }, { m1: 'fast' }]) session.receive(JSON.stringify({ type: 'status', hidden: false, calibration }));
    expect(session.tab.calibration).toEqual({ m1: 42.5 });
    expect(errors().length).toBeGreaterThanOrEqual(3);
    // The contributor's limits: kept as sent; a share outside (0, 1] is refused.
    session.receive(JSON.stringify({ type: 'status', hidden: false, limits: { paused: true, models: ['m1'], share: 0.5 } }));
    expect(session.tab.contributorLimits).toEqual({ paused: true, models: ['m1'], share: 0.5 });
    expect(registry.status()[0]).toMatchObject({ contributorLimits: { paused: true } });
    for (const share of [0, 1.5]) session.receive(JSON.stringify({ type: 'status', hidden: false, limits: { paused: false, models: null, share } }));
    expect(session.tab.contributorLimits.share).toBe(0.5);
  });

  it('rejects a second hello and keeps what the first one announced', () => {
    const { session, errors } = connect();
    session.receive(helloFrame(['m1'], 'webgpu'));

    session.receive(helloFrame(['m2'], 'wasm'));

    expect(errors()).toEqual([{ type: 'error', code: 'out_of_order', message: expect.any(String) }]);
    expect(session.tab).toMatchObject({ ready: true, backend: 'webgpu', models: ['m1'] });
  });

  it("hands job messages to the board after hello, and a drop fails the tab's jobs", async () => {
    const { registry, board, link, session } = connect();
    session.receive(helloFrame(['m1']));
    const job = await startedJob(board.start(request()));
    expect(link.ofType('task').map((t) => t.jobId)).toEqual([job.id]);

    session.receive(tokenFrame(job.id, 0));
    session.closed();

    const events = await drain(job);
    expect(events.map((e) => e.type)).toEqual(['tokens', 'failed']);
    expect(events[1]).toMatchObject({ code: 'tab_disconnected' });
    expect(registry.get(session.tab.id)).toBeUndefined();
    expect(board.size).toBe(0);
  });

  it('hands a batch of tokens to the board as one event, in order', async () => {
    const { board, link, session, errors } = connect();
    session.receive(helloFrame(['m1']));
    const job = await startedJob(board.start(request()));

    session.receive(tokenFrame(job.id, 0));
    session.receive(tokensFrame(job.id, [1, 2, 3]));
    session.receive(doneFrame(job.id, 4));

    const events = await drain(job);
    expect(events.map((e) => (e.type === 'tokens' ? e.tokens.map((t) => t.index) : e.type))).toEqual([[0], [1, 2, 3], 'done']);
    expect(errors()).toEqual([]);
    expect(link.closes).toEqual([]);
  });

  // A frame the schema refuses never reaches the board: the tab is told, the job goes on, and none of the frame's
  // tokens count (the job still expects the index after the last token delivered).
  it.each([
    ['an empty batch', (jobId: string) => JSON.stringify(tokensMessage(jobId, []))],
    [`a batch of more than ${MAX_TOKENS_PER_MESSAGE} tokens`, (jobId: string) => tokensFrame(jobId, Array.from({ length: MAX_TOKENS_PER_MESSAGE + 1 }, (_, i) => i + 1))],
    ['the old one-token message', (jobId: string) => JSON.stringify({ type: 'token', jobId, ...tokenEntry(1, 'a') })],
  ])('answers %s with invalid_message and leaves the job running', async (_name, frame) => {
    const { board, link, session, errors } = connect();
    session.receive(helloFrame(['m1']));
    const job = await startedJob(board.start(request()));
    session.receive(tokenFrame(job.id, 0));

    session.receive(frame(job.id));

    expect(errors()).toEqual([{ type: 'error', code: 'invalid_message', message: expect.any(String) }]);
    expect(link.closes).toEqual([]);
    expect(board.size).toBe(1);
    session.receive(tokensFrame(job.id, [1, 2]));
    session.receive(doneFrame(job.id, 3));
    expect((await drain(job)).map((e) => e.type)).toEqual(['tokens', 'tokens', 'done']);
  });
});

describe('tab sessions and the waiting queue', () => {
  /** One tab serving m1 and busy with a job, and a second request for m1 waiting (id 'queued'). */
  async function oneBusyTabAndAWaiter() {
    const net = coordinator();
    const first = net.connectTab();
    first.session.receive(helloFrame(['m1']));
    await startedJob(net.board.start(request()));
    return { net, first, waiter: watch(net.board.start(request(), { id: 'queued' })) };
  }

  it('hands a waiting request to a new tab as soon as its hello arrives', async () => {
    const { net, first, waiter } = await oneBusyTabAndAWaiter();
    const second = net.connectTab();
    await flush();
    expect(waiter.result).toBeNull();

    second.session.receive(helloFrame(['m1']));
    await flush();

    expect(waiter.result).toMatchObject({ ok: true, job: { id: 'queued', tab: { id: second.session.tab.id } } });
    expect(second.link.ofType('task').map((t) => t.jobId)).toEqual(['queued']);
    expect(first.link.ofType('task')).toHaveLength(1);
    expect(net.board.waitingCount).toBe(0);
  });

  it('leaves a request waiting when the new tab serves other models, and hands it over once the tab loads the model', async () => {
    const { net, waiter } = await oneBusyTabAndAWaiter();
    const second = net.connectTab();

    second.session.receive(helloFrame(['m2']));
    await flush();
    expect(waiter.result).toBeNull();
    expect(second.link.ofType('task')).toEqual([]);

    second.session.receive(JSON.stringify({ type: 'models', models: ['m2', 'm1'] }));
    await flush();
    expect(waiter.result).toMatchObject({ ok: true, job: { id: 'queued', tab: { id: second.session.tab.id } } });
  });

  it('ends waiting requests with no_tab when the last tab serving their model unloads it', async () => {
    const { board, session } = connect();
    session.receive(helloFrame(['m1', 'm2']));
    await startedJob(board.start(request('m1')));
    const forM1 = watch(board.start(request('m1')));
    const forM2 = watch(board.start(request('m2')));

    session.receive(JSON.stringify({ type: 'models', models: ['m2'] }));
    await flush();

    expect(forM1.result).toEqual({ ok: false, reason: 'no_tab' });
    expect(forM2.result).toBeNull();
    expect(board.waitingCount).toBe(1);
  });

  it('ends waiting requests with no_tab when the last tab serving their model disconnects', async () => {
    const { board, session } = connect();
    session.receive(helloFrame(['m1']));
    const running = await startedJob(board.start(request()));
    const waiters = [watch(board.start(request())), watch(board.start(request()))];

    session.closed();
    await flush();

    expect(waiters.map((w) => w.result)).toEqual([{ ok: false, reason: 'no_tab' }, { ok: false, reason: 'no_tab' }]);
    expect((await drain(running)).at(-1)).toMatchObject({ type: 'failed', code: 'tab_disconnected' });
    expect(board.waitingCount).toBe(0);
  });
});

describe('a tab that breaks the job contract', () => {
  it('is disconnected when a batch repeats a streamed index, and none of that batch is delivered', async () => {
    const { registry, board, link, session, errors } = connect();
    session.receive(helloFrame(['m1']));
    const job = await startedJob(board.start(request()));

    session.receive(tokenFrame(job.id, 0));
    session.receive(tokensFrame(job.id, [0, 1]));

    expect((await drain(job)).map((e) => (e.type === 'tokens' ? e.tokens.map((t) => t.index) : e.type === 'failed' ? e.code : e.type))).toEqual([[0], 'protocol_error']);
    expect(link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: job.id }]);
    expect(link.closes).toEqual(['protocol_error']);
    expect(registry.ready()).toEqual([]);
    expect(errors()).toEqual([]);
  });

  it('is disconnected: its job fails, it is told to cancel, it gets no more work and leaves when its link closes', async () => {
    const { registry, board, link, session, errors } = connect();
    session.receive(helloFrame(['m1']));
    const job = await startedJob(board.start(request()));

    session.receive(tokenFrame(job.id, 0));
    session.receive(tokenFrame(job.id, 0)); // repeated index

    expect((await drain(job)).map((e) => (e.type === 'failed' ? e.code : e.type))).toEqual(['tokens', 'protocol_error']);
    expect(link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: job.id }]);
    expect(link.closes).toEqual(['protocol_error']);
    expect(session.tab).toMatchObject({ ready: false, runningJobs: 0 });
    expect(registry.ready()).toEqual([]);
    expect(await board.start(request())).toEqual({ ok: false, reason: 'no_tab' });
    expect(errors()).toEqual([]);

    // The transport reports the close: the tab is gone.
    session.closed();
    expect(registry.get(session.tab.id)).toBeUndefined();
  });

  // The board's expel clears `ready`; the session must still remember that hello came, or an expelled tab that
  // says hello again (its socket still closing) would be re-admitted and handed waiting requests that can only end
  // in tab_disconnected.
  it('cannot rejoin with a second hello while its link closes', async () => {
    const net = coordinator();
    const honest = net.connectTab();
    honest.session.receive(helloFrame(['m1']));
    const cheat = net.connectTab();
    cheat.session.receive(helloFrame(['m1']));
    const onHonest = await startedJob(net.board.start(request(), { id: 'on-honest' }));
    const onCheat = await startedJob(net.board.start(request(), { id: 'on-cheat' }));
    expect([onHonest.tab.id, onCheat.tab.id]).toEqual([honest.session.tab.id, cheat.session.tab.id]);
    const waiter = watch(net.board.start(request(), { id: 'queued' }));
    cheat.session.receive(doneFrame(onCheat.id, 3)); // claims tokens it never streamed
    expect(cheat.link.closes).toEqual(['protocol_error']);

    cheat.session.receive(helloFrame(['m1']));
    await flush();

    expect(cheat.session.tab.ready).toBe(false);
    expect(waiter.result).toBeNull();
    expect(net.board.size).toBe(1);
  });
});

describe('tab identity', () => {
  const helloWith = (identity: IdentityProof) => JSON.stringify({ ...helloMessage(['m1']), identity });
  const challengeOf = (link: RecordingLink) => link.ofType('welcome')[0]!.challenge;

  it('gives every session its own challenge', () => {
    const net = coordinator();
    const challenges = new Set(Array.from({ length: 20 }, () => challengeOf(net.connectTab().link)));
    expect(challenges.size).toBe(20);
  });

  it('accepts a hello that signs this session’s challenge, and names the contributor by its key', () => {
    const { session, link, identity, errors } = connect();
    session.receive(helloFrame(['m1']));
    expect(errors()).toEqual([]);
    expect(link.ofType('accepted')).toEqual([{ type: 'accepted', contributorId: identity.contributorId, webrtc: null }]);
    expect(session.tab).toMatchObject({ ready: true, contributorId: identity.contributorId, publicKey: identity.publicKey });
    expect(identity.contributorId).toMatch(/^[0-9a-f]{40}$/);
  });

  it('gives two tabs of one browser (one key) the same contributor id, and different keys different ids', () => {
    const net = coordinator();
    const shared = new TestIdentity();
    const [a, b, c] = [net.connectTab(shared), net.connectTab(shared), net.connectTab()];
    for (const t of [a, b, c]) t.session.receive(helloFrame(['m1']));
    expect(a.session.tab.contributorId).toBe(b.session.tab.contributorId);
    expect(c.session.tab.contributorId).not.toBe(a.session.tab.contributorId);
    expect(a.session.tab.id).not.toBe(b.session.tab.id);
  });

  const refused = (t: ReturnType<typeof connect>) => {
    expect(t.errors()).toEqual([{ type: 'error', code: 'unauthenticated', message: expect.any(String) }]);
    expect(t.link.closes).toEqual(['unauthenticated']);
    expect(t.link.ofType('accepted')).toEqual([]);
    expect(t.session.tab.ready).toBe(false);
    expect(t.registry.ready()).toEqual([]);
  };

  it('refuses a forged signature: the right key, signed by another', () => {
    const t = connect();
    const victim = new TestIdentity();
    const forger = new TestIdentity();
    t.session.receiveAsIs(helloWith({ publicKey: victim.publicKey, signature: forger.prove(challengeOf(t.link)).signature }));
    refused(t);
  });

  it('refuses a stolen id: another tab’s valid proof, replayed in a new session', () => {
    const net = coordinator();
    const victim = net.connectTab();
    victim.session.receive(helloFrame(['m1']));
    const stolenProof = victim.identity.prove(challengeOf(victim.link));
    expect(victim.session.tab.ready).toBe(true);

    const thief = { ...net.connectTab(), registry: net.registry, board: net.board, logs: net.logs };
    thief.session.receiveAsIs(helloWith(stolenProof));
    expect(thief.errors()).toEqual([{ type: 'error', code: 'unauthenticated', message: expect.any(String) }]);
    expect(thief.link.closes).toEqual(['unauthenticated']);
    expect(thief.session.tab.ready).toBe(false);
    expect(net.registry.ready()).toEqual([victim.session.tab]);
  });

  it('refuses a signature over something else than the challenge, and garbage keys', () => {
    const t1 = connect();
    const me = new TestIdentity();
    t1.session.receiveAsIs(helloWith({ publicKey: me.publicKey, signature: me.sign(new TextEncoder().encode(challengeOf(t1.link))) }));
    refused(t1);
    const t2 = connect();
    t2.session.receiveAsIs(helloWith({ publicKey: 'A'.repeat(43), signature: 'A'.repeat(86) }));
    refused(t2);
  });

  it('fails a job whose result signature does not cover what was streamed, and disconnects the tab', async () => {
    const { board, link, session, identity } = connect();
    session.receive(helloFrame(['m1']));
    const job = await startedJob(board.start(request()));
    session.receive(tokensFrame(job.id, [0, 1]));
    const task = link.ofType('task')[0]!;
    const end = { finishReason: 'stop' as const, promptTokens: 1, completionTokens: 2 };
    // Signs different tokens than it streamed: as if it wanted to deny what it sent.
    const signature = identity.signResult(task, [{ id: 10, logprob: -0.5 }, { id: 99, logprob: -0.1 }], end);
    session.receiveAsIs(JSON.stringify({ type: 'done', jobId: job.id, text: '', ...end, signature }));

    expect((await drain(job)).at(-1)).toEqual({ type: 'failed', code: 'protocol_error', message: expect.stringMatching(/signature/) });
    expect(link.closes).toEqual(['protocol_error']);
  });

  it('finishes a job whose result is signed over exactly what was streamed', async () => {
    const { board, session } = connect();
    session.receive(helloFrame(['m1']));
    const job = await startedJob(board.start(request()));
    session.receive(tokensFrame(job.id, [0, 1]));
    session.receive(JSON.stringify({ type: 'done', jobId: job.id, finishReason: 'stop', text: '', promptTokens: 1, completionTokens: 2 }));
    expect((await drain(job)).at(-1)).toEqual({ type: 'done', finishReason: 'stop', text: '', promptTokens: 1, completionTokens: 2 });
  });
});

describe('WebRTC in the tab session', () => {
  const invitation = { peerId: 'tabc123', token: 'token-0123456789abcdef', coordinatorPeerId: 'dolphin-coordinator', path: '/peerjs', key: 'k', iceServers: [] };

  function connectWithWebRtc() {
    const registry = new TabRegistry();
    const board = new JobBoard({ registry, idleTimeoutMs: 60_000 });
    const link = new RecordingLink();
    let listening = 0;
    const logs: string[] = [];
    const opened = openTabSession(link, { registry, board, knownModels: () => new Set(KNOWN), log: (l) => logs.push(l), webrtc: { invitation, listening: () => listening++ } });
    const tab = signingTab(link, (raw) => opened.receive(raw));
    return { link, tab, logs, listens: () => listening, record: opened.tab };
  }

  it('invites the tab in `accepted`, and calls when it listens', () => {
    const { link, tab, listens, record } = connectWithWebRtc();
    tab.receive(helloFrame(['m1']));
    expect(link.ofType('accepted')[0]?.webrtc).toEqual(invitation);
    expect(record.peerId).toBeNull();
    tab.receive(JSON.stringify({ type: 'webrtc', state: 'listening' }));
    expect(listens()).toBe(1);
    expect(record.peerId).toBe(invitation.peerId);
  });

  it('refuses webrtc before hello, and notes a tab without WebRTC', () => {
    const { link, tab, logs, listens } = connectWithWebRtc();
    tab.receive(JSON.stringify({ type: 'webrtc', state: 'listening' }));
    expect(link.ofType('error')).toEqual([{ type: 'error', code: 'out_of_order', message: 'webrtc before hello' }]);
    tab.receive(helloFrame(['m1']));
    tab.receive(JSON.stringify({ type: 'webrtc', state: 'unavailable', reason: 'no RTCPeerConnection' }));
    expect(listens()).toBe(0);
    expect(logs.some((l) => l.includes('no RTCPeerConnection'))).toBe(true);
  });
});

describe('ping', () => {
  it('answers pong on the link the ping came on, after hello only', () => {
    const { session, link, errors } = connect();
    session.receive(JSON.stringify({ type: 'ping', nonce: 'early' }));
    expect(errors()).toEqual([{ type: 'error', code: 'out_of_order', message: 'ping before hello' }]);
    session.receive(helloFrame(['m1']));
    session.receive(JSON.stringify({ type: 'ping', nonce: 'n1', pad: 'x'.repeat(100) }));
    expect(link.ofType('pong')).toEqual([{ type: 'pong', nonce: 'n1' }]);
    const other = new RecordingLink();
    session.receiveAsIs(JSON.stringify({ type: 'ping', nonce: 'n2' }), other);
    expect(link.ofType('pong').map((p) => p.nonce)).toEqual(['n1']);
    expect(other.sent).toEqual([{ type: 'pong', nonce: 'n2' }]);
  });
});

describe('a failure while handling a tab message', () => {
  it('ends that session only: logged, the tab told and disconnected, nothing thrown', async () => {
    const registry = new TabRegistry();
    const board = new JobBoard({ registry, idleTimeoutMs: 60_000, streamCheck: () => ({ tokens: () => { throw new Error('a bug'); }, done: () => null }) });
    const logs: string[] = [];
    const link = new RecordingLink();
    const opened = openTabSession(link, { registry, board, knownModels: () => new Set(KNOWN), log: (line) => logs.push(line) });
    const tab = signingTab(link, (raw) => opened.receive(raw));
    tab.receive(helloFrame(['m1']));
    const started = await board.start(request());
    if (!started.ok) throw new Error(started.reason);
    expect(() => tab.receive(JSON.stringify(tokensMessage(started.job.id, [tokenEntry(0)])))).not.toThrow();
    expect(logs.some((l) => l.includes('failed handling a message') && l.includes('a bug'))).toBe(true);
    expect(link.ofType('error').at(-1)).toMatchObject({ code: 'internal_error' });
    expect(link.closes).toEqual(['internal_error']);
  });
});
