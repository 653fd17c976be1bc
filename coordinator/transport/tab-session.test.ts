import { describe, expect, it } from 'vitest';
import { MAX_TAB_MESSAGE_CHARS } from '../../src/protocol/tab.ts';
import { helloFrame, helloMessage, RecordingLink } from '../../test/unit/tab-peer.ts';
import { JobBoard } from '../jobs/job-board.ts';
import { TabRegistry } from '../tabs/tab-registry.ts';
import { openTabSession } from './tab-session.ts';

const KNOWN = ['m1', 'm2'];

function connect() {
  const registry = new TabRegistry();
  const board = new JobBoard({ registry, idleTimeoutMs: 60_000 });
  const logs: string[] = [];
  const link = new RecordingLink();
  const session = openTabSession(link, { registry, board, knownModels: () => new Set(KNOWN), log: (line) => logs.push(line) });
  return { registry, board, link, session, logs, errors: () => link.ofType('error') };
}

const jobFrames = {
  token: JSON.stringify({ type: 'token', jobId: 'j1', index: 0, token: { id: 1, token: 'a', bytes: [97], logprob: -1 }, text: 'a', top: [] }),
  done: JSON.stringify({ type: 'done', jobId: 'j1', finishReason: 'stop', text: '', promptTokens: 1, completionTokens: 1 }),
  failed: JSON.stringify({ type: 'failed', jobId: 'j1', code: 'oops', message: 'oops' }),
  models: JSON.stringify({ type: 'models', models: ['m1'] }),
};

describe('openTabSession', () => {
  it('registers the tab, not ready, and welcomes it with its id', () => {
    const { registry, link, session } = connect();
    expect(link.sent).toEqual([{ type: 'welcome', tabId: session.tab.id }]);
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
    const job = board.start({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], params: { maxTokens: 4, temperature: 0, topP: 1, topK: 0, stop: [], seed: 1, topLogprobs: 0 } });
    if (!job) throw new Error('the tab should have taken the job');
    expect(link.ofType('task').map((t) => t.jobId)).toEqual([job.id]);

    session.receive(JSON.stringify({ type: 'token', jobId: job.id, index: 0, token: { id: 1, token: 'a', bytes: [97], logprob: -1 }, text: 'a', top: [] }));
    session.closed();

    const events = [];
    for await (const event of job.events) events.push(event);
    expect(events.map((e) => e.type)).toEqual(['token', 'failed']);
    expect(events[1]).toMatchObject({ code: 'tab_disconnected' });
    expect(registry.get(session.tab.id)).toBeUndefined();
    expect(board.size).toBe(0);
  });
});
