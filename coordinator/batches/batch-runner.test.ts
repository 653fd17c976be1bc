import { describe, expect, it } from 'vitest';
import type { ChatCompletion } from '../../src/protocol/api.ts';
import { BatchRunner, type BatchOwner, type CompletionAnswer } from './batch-runner.ts';

const owner: BatchOwner = { requesterId: 'r1', authorization: 'Bearer k' };
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
const completion = (content: string) => ({ id: `c-${content}`, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content } }] }) as unknown as ChatCompletion;
const busy = (code: string): CompletionAnswer => ({ status: code === 'queue_full' ? 429 : 503, body: { error: { message: 'busy', type: 'x', param: null, code } }, retryAfterMs: 1 });

/** A runner whose completions the test answers by hand, in any order. */
function harness(options: { tabs?: number; waiting?: number; jobMs?: number; maxRetries?: number } = {}) {
  let clock = 1_000_000;
  const calls: Array<{ body: Record<string, unknown>; answer: (a: CompletionAnswer) => void; signal: AbortSignal }> = [];
  let ids = 0;
  const load = { waiting: options.waiting ?? 0, tabs: options.tabs ?? 2, jobMs: options.jobMs ?? 4000 };
  const runner = new BatchRunner({
    complete: (body, _owner, signal) => new Promise((resolve) => calls.push({ body, answer: resolve, signal })),
    load: () => load,
    now: () => clock,
    newId: () => String(++ids),
    retryDelayMs: 1,
    ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
  });
  const answer = async (prompt: string, a: CompletionAnswer) => {
    const at = calls.findIndex((c) => (c.body.messages as Array<{ content: string }>)[0]?.content === prompt);
    if (at < 0) throw new Error(`no running request ${prompt}`);
    const [call] = calls.splice(at, 1);
    call?.answer(a);
    await flush();
  };
  return { runner, calls, load, answer, tick: (ms: number) => (clock += ms) };
}
const request = (prompt: string, model = 'm') => ({ model, messages: [{ role: 'user', content: prompt }] });
const running = (h: ReturnType<typeof harness>) => h.calls.map((c) => (c.body.messages as Array<{ content: string }>)[0]?.content);

describe('BatchRunner', () => {
  it('runs as many requests of a model at once as tabs serve it, keeps results in order whatever order they finish in', async () => {
    const h = harness({ tabs: 2 });
    const batch = h.runner.create(owner, { requests: ['a', 'b', 'c'].map((p) => request(p)) });
    expect(batch?.status).toBe('in_progress');
    expect(running(h)).toEqual(['a', 'b']);
    await h.answer('b', { status: 200, body: completion('B') });
    expect(running(h)).toEqual(['a', 'c']);
    await h.answer('c', { status: 200, body: completion('C') });
    await h.answer('a', { status: 200, body: completion('A') });
    const done = h.runner.get('r1', batch?.id ?? '');
    expect(done?.status).toBe('completed');
    expect(done?.results.map((r) => [r.index, r.status, r.response?.choices[0]?.message.content])).toEqual([
      [0, 'completed', 'A'],
      [1, 'completed', 'B'],
      [2, 'completed', 'C'],
    ]);
    expect(done?.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
  });

  it('shows a queued request’s position and estimated start from the load of its model', async () => {
    const h = harness({ tabs: 2, waiting: 1, jobMs: 4000 });
    const batch = h.runner.create(owner, { requests: ['a', 'b', 'c', 'd', 'e'].map((p) => request(p)) });
    // a and b run; c, d, e wait behind one request already waiting on the board.
    expect(batch?.results.map((r) => r.queue_position)).toEqual([null, null, 1, 2, 3]);
    // Both tabs busy: c waits for one round of 4 s jobs, d and e (3 and 4 ahead over 2 tabs) for two.
    expect(batch?.results.map((r) => r.estimated_start_at)).toEqual([null, null, 1004, 1008, 1008]);
    h.load.tabs = 0;
    expect(h.runner.get('r1', batch?.id ?? '')?.results[2]?.estimated_start_at).toBeNull();
  });

  it('gives a request the network was too busy for its turn again, then fails it after maxRetries; other errors fail at once', async () => {
    const h = harness({ tabs: 1, maxRetries: 1 });
    const batch = h.runner.create(owner, { requests: [request('a'), request('b'), { ...request('c'), stream: true }] });
    await h.answer('a', busy('tabs_busy'));
    // While a waits out its Retry-After, b takes the free place; then a gets its turn again, ahead of the rest.
    expect(running(h)).toEqual(['b']);
    await h.answer('b', { status: 400, body: { error: { message: 'bad', type: 'invalid_request_error', param: 'messages', code: null } } });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(running(h)).toEqual(['a']);
    await h.answer('a', busy('queue_full'));
    const view = h.runner.get('r1', batch?.id ?? '');
    expect(view?.results.map((r) => [r.status, r.error?.code ?? r.error?.param])).toEqual([
      ['failed', 'queue_full'],
      ['failed', 'messages'],
      ['failed', 'invalid_value'],
    ]);
    expect(view?.status).toBe('completed');
  });

  it('starts every request once, when one fails before it runs (a streamed request) and the queue is walked again meanwhile', async () => {
    const h = harness({ tabs: 1 });
    // x and y fail at once, each walking the queue again from inside the walk that started it.
    const batch = h.runner.create(owner, { requests: [{ ...request('x'), stream: true }, { ...request('y', 'n'), stream: true }, request('a'), request('b')] });
    expect(running(h)).toEqual(['a']);
    await h.answer('a', { status: 200, body: completion('A') });
    expect(running(h)).toEqual(['b']);
    await h.answer('b', { status: 200, body: completion('B') });
    expect(h.runner.get('r1', batch?.id ?? '')?.results.map((r) => r.status)).toEqual(['failed', 'failed', 'completed', 'completed']);
    expect(h.calls).toEqual([]);
  });

  it('cancels: queued requests never start, running ones are aborted', async () => {
    const h = harness({ tabs: 1 });
    const batch = h.runner.create(owner, { requests: [request('a'), request('b')] });
    const signal = h.calls[0]?.signal;
    const cancelled = h.runner.cancel('r1', batch?.id ?? '');
    expect(signal?.aborted).toBe(true);
    expect(cancelled?.status).toBe('cancelled');
    await h.answer('a', { status: 499, body: { error: { message: 'closed', type: 'invalid_request_error', param: null, code: 'client_closed_request' } } });
    expect(h.runner.get('r1', batch?.id ?? '')?.results.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    expect(h.calls).toEqual([]);
  });

  it('shows a batch only to its owner, limits unfinished batches per owner, and forgets finished ones after an hour', async () => {
    const h = harness({ tabs: 1 });
    const first = h.runner.create(owner, { requests: [request('a')] });
    expect(h.runner.get('someone else', first?.id ?? '')).toBeNull();
    expect(h.runner.cancel('someone else', first?.id ?? '')).toBeNull();
    for (let i = 1; i < 10; i++) expect(h.runner.create(owner, { requests: [request(`x${i}`, `m${i}`)] })).not.toBeNull();
    expect(h.runner.create(owner, { requests: [request('over')] })).toBeNull();
    expect(h.runner.create({ requesterId: 'r2', authorization: 'Bearer j' }, { requests: [request('other', 'z')] })).not.toBeNull();
    await h.answer('a', { status: 200, body: completion('A') });
    expect(h.runner.create(owner, { requests: [request('now')] })).not.toBeNull();
    h.tick(3_600_001);
    expect(h.runner.get('r1', first?.id ?? '')).toBeNull();
  });
});
