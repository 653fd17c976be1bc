import { serve } from '@hono/node-server';
import { createParser } from 'eventsource-parser';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { API_LIMITS, type ChatCompletion, type ChatCompletionChunk, type ErrorBody } from '../../src/protocol/api.ts';
import { MAX_TAB_MESSAGE_CHARS, parseCoordinatorMessage, type TaskMessage, type TokenEntry } from '../../src/protocol/tab.ts';
import { helloFrame, RecordingLink, signingTab, tokenEntry } from '../../test/unit/tab-peer.ts';
import type { JobBoard, JobEvent, JobFailureCode } from '../jobs/job-board.ts';
import { openTabSession, type TabSession } from '../transport/tab-session.ts';
import { testEconomy } from '../../test/unit/economy.ts';
import { CONFIG_SHA256, expectError, testApp, withKey, writeTestModels, type TestModels } from '../../test/unit/test-app.ts';
import { DEMO_API_KEY, type AccountView, type ContributorView, type Page, type UsageView } from '../../src/protocol/accounts.ts';
import { newApiKey } from './auth.ts';
import { DEFAULT_ECONOMY } from '../economy.ts';
import { escrowAccount, MICROS_PER_DPHN, requesterAccount } from '../ledger/accounts.ts';
import { costOf, formatDphn, priceOf, splitCharge } from '../ledger/pricing.ts';

const MODEL = 'tiny-a';
const OTHER_MODEL = 'tiny-b';
const CONTEXT_LENGTH = 96;
/** The model file's bytes: every byte value, and more than one read chunk of the stream that serves it. */
const ONNX_BYTES = Uint8Array.from({ length: 200_003 }, (_, i) => (i * 131 + (i >> 8)) % 256);
const ONNX_SHA = createHash('sha256').update(ONNX_BYTES).digest('hex');
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

let fixture: TestModels;
let economy: Awaited<ReturnType<typeof testEconomy>>;

beforeAll(async () => {
  // Each model folder holds a file its manifest does not list, too.
  const folder = { contextLength: CONTEXT_LENGTH, onnx: { bytes: ONNX_BYTES, sha256: ONNX_SHA }, unlisted: { 'notes.txt': 'not in the manifest' } };
  fixture = await writeTestModels('dolphin-api-', { [MODEL]: folder, [OTHER_MODEL]: folder });
  economy = await testEconomy({ catalogue: fixture.catalogue });
});
afterAll(async () => {
  await fixture.remove();
});

/** A fresh coordinator (app, registry, board) over the shared catalogue. */
function network(options: { idleTimeoutMs?: number; queueTimeoutMs?: number; maxWaitingPerModel?: number; jobsPerTab?: number } = {}) {
  const drawnSeeds: number[] = [];
  const randomSeed = () => {
    const seed = 1_000_000 + drawnSeeds.length;
    drawnSeeds.push(seed);
    return seed;
  };
  const { app: server, registry, board } = testApp({ models: fixture, economy: economy.wiring.deps, board: options, randomSeed });
  // Every request carries the test requester's API key unless it sets its own Authorization.
  const app = { request: (path: string, init: RequestInit = {}) => server.request(path, withKey(init, economy.apiKey)), fetch: server.fetch };
  return { app, registry, board, drawnSeeds };
}
type Network = ReturnType<typeof network>;

/**
 * A scripted peer in place of a contributor tab: it answers every task with the events `reply` returns, through
 * the real tab session. It runs no model; these tests pin the API's shape, not that inference works. Like the
 * real tab (src/lib/tab-link.ts), it drops any frame that `parseCoordinatorMessage` rejects, and keeps the reasons.
 */
function connectScriptedTab(net: Network, reply: (task: TaskMessage) => JobEvent[], models = [MODEL]) {
  let receive: ((raw: unknown) => void) | undefined;
  const tasks: TaskMessage[] = [];
  const dropped: string[] = [];
  const link = new RecordingLink((sent) => {
    const parsed = parseCoordinatorMessage(JSON.stringify(sent));
    if (!parsed.ok) return void dropped.push(parsed.error);
    const message = parsed.message;
    if (message.type !== 'task') return;
    tasks.push(message);
    setTimeout(() => {
      for (const event of reply(message)) receive?.(JSON.stringify({ ...event, jobId: message.jobId }));
    }, 0);
  });
  const session: TabSession = openTabSession(link, { registry: net.registry, board: net.board, knownModels: () => fixture.catalogue.ids(), log: () => {} });
  // An honest tab: a real identity proof in its hello, a real signature on every done.
  receive = signingTab(link, (raw) => session.receive(raw)).receive;
  receive(helloFrame(models, 'wasm'));
  /** Sends events for a job by hand, for a tab whose `reply` holds back. */
  const say = (jobId: string | undefined, events: JobEvent[]) => {
    for (const event of events) receive?.(JSON.stringify({ ...event, jobId }));
  };
  return { link, tab: session.tab, tasks, dropped, say };
}

/** The token at `index` on its own, as a tab sends a job's first token. Its logprob is `-0.5 - index`. */
const token = (index: number, text: string, top: Array<{ token: string; logprob: number }> = []): JobEvent => ({ type: 'tokens', tokens: [tokenEntry(index, text, top)] });
/** Several tokens in one message, as a tab batches the tokens after the first. */
const batch = (...entries: TokenEntry[]): JobEvent => ({ type: 'tokens', tokens: entries });
const done = (text = '', completionTokens = 2, promptTokens = 7): JobEvent => ({ type: 'done', finishReason: 'stop', text, promptTokens, completionTokens });
const failed = (code: JobFailureCode, message = `tab says ${code}`): JobEvent => ({ type: 'failed', code, message });

const SCRIPT: JobEvent[] = [token(0, 'Hel'), token(1, 'lo'), done('!', 3)];
const scriptText = (events: JobEvent[]) => events.map((e) => (e.type === 'tokens' ? e.tokens.map((t) => t.text).join('') : e.type === 'done' ? e.text : '')).join('');

const chat = (body: Record<string, unknown> = {}) => ({ model: MODEL, messages: [{ role: 'user', content: 'Say hello' }], ...body });

function post(net: Network, body: unknown, init: RequestInit = {}) {
  return net.app.request('/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

/** Serves the app on a real socket (port 0) for the few tests that need one. */
async function listen(net: Network): Promise<{ url: string; close: () => Promise<void> }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: net.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () => new Promise<void>((done) => {
          if ('closeAllConnections' in server) server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}

/** The `data:` payloads of an SSE body, in order. */
async function sseData(response: Response): Promise<string[]> {
  const data: string[] = [];
  const parser = createParser({ onEvent: (event) => data.push(event.data) });
  parser.feed(await response.text());
  return data;
}

/** What the server wrote to an SSE body, one string per write: a read of the body gets one write, never less or more. */
async function bodyWrites(response: Response): Promise<string[]> {
  if (!response.body) throw new Error('expected a body');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const writes: string[] = [];
  for (let read = await reader.read(); !read.done; read = await reader.read()) writes.push(decoder.decode(read.value));
  return writes;
}

/** The `data:` payloads of one complete piece of an SSE body. */
function dataOf(text: string): string[] {
  const data: string[] = [];
  createParser({ onEvent: (event) => data.push(event.data) }).feed(text);
  return data;
}

describe('GET /v1/models', () => {
  it('lists the catalogue in OpenAI shape', async () => {
    const response = await network().app.request('/v1/models');
    expect(response.status).toBe(200);
    const created = async (id: string) => Math.floor((await stat(join(fixture.root, 'models', id, 'manifest.json'))).mtimeMs / 1000);
    expect(await response.json()).toEqual({
      object: 'list',
      data: [
        { id: MODEL, object: 'model', created: await created(MODEL), owned_by: 'dolphin' },
        { id: OTHER_MODEL, object: 'model', created: await created(OTHER_MODEL), owned_by: 'dolphin' },
      ],
    });
  });

  it('returns one model, and model_not_found for an unknown one', async () => {
    const net = network();
    expect(await (await net.app.request(`/v1/models/${MODEL}`)).json()).toMatchObject({ id: MODEL, object: 'model' });
    await expectError(await net.app.request('/v1/models/nope'), 404, { type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
  });
});

describe('unknown routes', () => {
  it.each([
    ['GET', '/v1/embeddings'],
    ['POST', '/v1/completions'],
    ['DELETE', '/v1/chat/completions'],
  ])('answers %s %s with an OpenAI-shaped 404 unknown_url', async (method, path) => {
    const body = await expectError(await network().app.request(path, { method }), 404, { type: 'invalid_request_error', param: null, code: 'unknown_url' });
    expect(body.error.message).toContain(`${method} ${path}`);
  });

  it('answers an unknown path outside /v1 with a plain 404', async () => {
    const response = await network().app.request('/no/such/page');
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  });
});

describe('POST /v1/chat/completions validation', () => {
  const cases: Array<[string, unknown, number, Omit<ErrorBody['error'], 'message'>]> = [
    ['malformed JSON', '{"model": "tiny-a",', 400, { type: 'invalid_request_error', param: null, code: 'invalid_json' }],
    ['a JSON array body', '[1, 2]', 400, { type: 'invalid_request_error', param: null, code: 'invalid_json' }],
    ['a JSON null body', 'null', 400, { type: 'invalid_request_error', param: null, code: 'invalid_json' }],
    ['missing messages', { model: MODEL }, 400, { type: 'invalid_request_error', param: 'messages', code: 'missing_required_parameter' }],
    ['empty messages', chat({ messages: [] }), 400, { type: 'invalid_request_error', param: 'messages', code: 'invalid_value' }],
    ['a bad message role', chat({ messages: [{ role: 'robot', content: 'x' }] }), 400, { type: 'invalid_request_error', param: 'messages[0].role', code: 'invalid_value' }],
    ['max_tokens 0', chat({ max_tokens: 0 }), 400, { type: 'invalid_request_error', param: 'max_tokens', code: 'invalid_value' }],
    ['top_logprobs without logprobs', chat({ top_logprobs: 2 }), 400, { type: 'invalid_request_error', param: 'top_logprobs', code: 'invalid_value' }],
    ['n 9', chat({ n: 9 }), 400, { type: 'invalid_request_error', param: 'n', code: 'invalid_value' }],
    ['n 0', chat({ n: 0 }), 400, { type: 'invalid_request_error', param: 'n', code: 'invalid_value' }],
    ['temperature 3', chat({ temperature: 3 }), 400, { type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' }],
    ['an unknown model', chat({ model: 'gpt-9' }), 404, { type: 'invalid_request_error', param: 'model', code: 'model_not_found' }],
  ];

  it.each(cases)('rejects %s', async (_name, body, status, error) => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);
    await expectError(await post(net, body), status, error);
    expect(tab.tasks).toEqual([]);
  });

  it('answers 503 with a clear message when no tab serves the model', async () => {
    const net = network();
    connectScriptedTab(net, () => SCRIPT, [OTHER_MODEL]);
    const body = await expectError(await post(net, chat()), 503, { type: 'service_unavailable_error', param: 'model', code: 'no_capacity' });
    expect(body.error.message).toContain(MODEL);
    expect(body.error.message).toMatch(/no contributor tab/i);
  });
});

/** A request body of exactly `bytes` bytes (ASCII), padded through the `user` field, which never reaches the tab. */
function bodyOfSize(bytes: number): string {
  const base = JSON.stringify(chat({ user: '' }));
  const body = JSON.stringify(chat({ user: 'x'.repeat(bytes - base.length) }));
  expect(body.length).toBe(bytes);
  return body;
}

describe('POST /v1/chat/completions size limits', () => {
  it('rejects a body over 4 MiB with an OpenAI-shaped 413, and takes one of exactly 4 MiB', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);

    await expectError(await post(net, bodyOfSize(MAX_REQUEST_BYTES + 1)), 413, { type: 'invalid_request_error', param: null, code: 'request_too_large' });
    expect(tab.tasks).toEqual([]);

    const atLimit = await post(net, bodyOfSize(MAX_REQUEST_BYTES));
    expect(atLimit.status).toBe(200);
    expect(tab.tasks).toHaveLength(1);
  });

  it('rejects an over-limit body sent without a Content-Length (chunked) with 413', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);
    const bytes = new TextEncoder().encode(bodyOfSize(MAX_REQUEST_BYTES + 1));
    const chunk = 64 * 1024;
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= bytes.length) return controller.close();
        controller.enqueue(bytes.subarray(at, at + chunk));
        at += chunk;
      },
    });

    const response = await net.app.request('/v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, duplex: 'half' } as RequestInit);

    await expectError(response, 413, { type: 'invalid_request_error', param: null, code: 'request_too_large' });
    expect(tab.tasks).toEqual([]);
  });

  it(`rejects a message longer than API_LIMITS.maxContentChars (${API_LIMITS.maxContentChars})`, async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);
    const response = await post(net, chat({ messages: [{ role: 'user', content: 'x'.repeat(API_LIMITS.maxContentChars + 1) }] }));
    await expectError(response, 400, { type: 'invalid_request_error', param: 'messages[0].content', code: 'invalid_value' });
    expect(tab.tasks).toEqual([]);
  });

  it('counts the parts of a content array together against API_LIMITS.maxContentChars', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);
    const half = API_LIMITS.maxContentChars / 2;
    const parts = (second: number) => [{ type: 'text', text: 'a'.repeat(half) }, { type: 'text', text: 'b'.repeat(second) }];

    const over = await post(net, chat({ messages: [{ role: 'system', content: 'ok' }, { role: 'user', content: parts(half + 1) }] }));
    await expectError(over, 400, { type: 'invalid_request_error', param: 'messages[1].content', code: 'invalid_value' });
    expect(tab.tasks).toEqual([]);

    const atLimit = await post(net, chat({ messages: [{ role: 'user', content: parts(half) }] }));
    expect(atLimit.status).toBe(200);
    expect(tab.tasks[0]?.messages[0]?.content).toHaveLength(API_LIMITS.maxContentChars);
  });

  it('takes a message of exactly API_LIMITS.maxContentChars', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);
    const response = await post(net, chat({ messages: [{ role: 'user', content: 'x'.repeat(API_LIMITS.maxContentChars) }] }));
    expect(response.status).toBe(200);
    expect(tab.tasks).toHaveLength(1);
  });

  // A conversation within the 4 MiB body limit can still make a task frame larger than a tab accepts
  // (MAX_TAB_MESSAGE_CHARS). The tab drops such a frame, so the job can only end by the idle timeout.
  it('rejects a conversation whose task would not fit in one tab message, instead of sending it', async () => {
    const net = network({ idleTimeoutMs: 300 });
    const tab = connectScriptedTab(net, () => SCRIPT);
    const part = 'x'.repeat(Math.ceil(MAX_TAB_MESSAGE_CHARS / 8));
    const messages = Array.from({ length: 10 }, () => ({ role: 'user', content: part }));

    const response = await post(net, chat({ messages }));

    await expectError(response, 400, { type: 'invalid_request_error', param: 'messages', code: 'request_too_large' });
    expect(tab.tasks).toEqual([]);
    expect(tab.dropped).toEqual([]);
    expect(tab.tab.runningJobs).toBe(0);
  });
});

describe('POST /v1/chat/completions (non-streaming)', () => {
  it('returns the completion the tab produced, in OpenAI shape', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);
    const before = Math.floor(Date.now() / 1000);

    const response = await post(net, chat());

    expect(response.status).toBe(200);
    expect(response.headers.get('x-dolphin-tab')).toBe(tab.tab.id);
    expect(response.headers.get('x-dolphin-backend')).toBe('wasm');
    expect(tab.tab.contributorId).toMatch(/^[0-9a-f]{40}$/);
    expect(response.headers.get('x-dolphin-contributor')).toBe(tab.tab.contributorId);
    const body = (await response.json()) as ChatCompletion;
    expect(body.id).toMatch(/^chatcmpl-/);
    expect(body.id).toBe(tab.tasks[0]?.jobId);
    expect(Number.isInteger(body.created)).toBe(true);
    expect(body.created).toBeGreaterThanOrEqual(before);
    expect(body.created).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(body).toMatchObject({ object: 'chat.completion', model: MODEL, system_fingerprint: `dolphin-${ONNX_SHA.slice(0, 12)}` });
    expect(body.choices).toEqual([{ index: 0, message: { role: 'assistant', content: scriptText(SCRIPT), refusal: null }, logprobs: null, finish_reason: 'stop' }]);
    expect(body.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
    expect(tab.tab.runningJobs).toBe(0);
  });

  it('includes per-token logprobs, with alternatives, only when asked', async () => {
    const net = network();
    const script = [token(0, 'Hi', [{ token: 'Hi', logprob: -0.5 }, { token: 'Yo', logprob: -2 }]), done('', 1)];
    const tab = connectScriptedTab(net, () => script);

    const body = (await (await post(net, chat({ logprobs: true, top_logprobs: 2 }))).json()) as ChatCompletion;

    expect(tab.tasks[0]?.params.topLogprobs).toBe(2);
    expect(body.choices[0]?.logprobs).toEqual({
      content: [
        {
          token: 'Hi',
          logprob: -0.5,
          bytes: [72, 105],
          top_logprobs: [
            { token: 'Hi', logprob: -0.5, bytes: [72, 105] },
            { token: 'Yo', logprob: -2, bytes: [89, 111] },
          ],
        },
      ],
      refusal: null,
    });
  });

  it.each([
    ['context_length_exceeded', 400, { type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' }],
    ['cancelled', 503, { type: 'service_unavailable_error', param: null, code: 'cancelled' }],
  ] as const)('maps a tab failure %s before the first token to HTTP %i', async (code, status, error) => {
    const net = network();
    const tab = connectScriptedTab(net, () => [failed(code)]);
    await expectError(await post(net, chat()), status, error);
    await expectError(await post(net, chat({ stream: true })), status, error);
    expect(tab.tab.runningJobs).toBe(0);
  });

  it('maps a tab failure model_not_loaded to HTTP 503; that tab is not given the model again', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [failed('model_not_loaded')]);
    await expectError(await post(net, chat()), 503, { type: 'service_unavailable_error', param: null, code: 'model_not_loaded' });
    await expectError(await post(net, chat({ stream: true })), 503, { type: 'service_unavailable_error', param: 'model', code: 'no_capacity' });
    expect(tab.tab.runningJobs).toBe(0);
  });

  it('fails with the mapped status when the tab fails after the first token', async () => {
    const net = network();
    connectScriptedTab(net, () => [token(0, 'Hel'), failed('worker_error')]);
    await expectError(await post(net, chat()), 503, { type: 'service_unavailable_error', param: null, code: 'worker_error' });
  });

  it('sends the tab the planned sampling parameters and flattened messages', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);

    const response = await post(net, chat({
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'Say ' }, { type: 'text', text: 'hello' }] }],
      max_tokens: 5,
      max_completion_tokens: 9,
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      stop: '\n\n',
      seed: 42,
      logprobs: false,
    }));

    expect(response.status).toBe(200);
    expect(response.headers.get('x-dolphin-seed')).toBe('42');
    expect(net.drawnSeeds).toEqual([]);
    expect(tab.tasks).toEqual([{
      type: 'task',
      jobId: expect.stringMatching(/^chatcmpl-/),
      model: MODEL,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello' }],
      params: { maxTokens: 9, temperature: 0.5, topP: 0.9, topK: 40, stop: ['\n\n'], seed: 42, topLogprobs: 0 },
    }]);
  });

  it('uses a request seed of 0 as given', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);
    await post(net, chat({ seed: 0 }));
    expect(tab.tasks[0]?.params.seed).toBe(0);
    expect(net.drawnSeeds).toEqual([]);
  });

  it('fills unset parameters with defaults and a coordinator-drawn seed', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);

    const response = await post(net, chat());
    const withMaxTokens = await post(net, chat({ max_tokens: 5, stop: ['a', 'b'] }));

    expect(net.drawnSeeds).toHaveLength(2);
    expect(response.headers.get('x-dolphin-seed')).toBe(String(net.drawnSeeds[0]));
    expect(withMaxTokens.headers.get('x-dolphin-seed')).toBe(String(net.drawnSeeds[1]));
    expect(tab.tasks.map((t) => t.params)).toEqual([
      { maxTokens: fixture.catalogue.get(MODEL)?.config.max_position_embeddings, temperature: 1, topP: 1, topK: 0, stop: [], seed: net.drawnSeeds[0], topLogprobs: 0 },
      { maxTokens: 5, temperature: 1, topP: 1, topK: 0, stop: ['a', 'b'], seed: net.drawnSeeds[1], topLogprobs: 0 },
    ]);
  });

  it('sends a concurrent request to an idle tab rather than queueing it behind a busy one', async () => {
    const net = network();
    const stalled = connectScriptedTab(net, () => [token(0, 'a')]); // never finishes
    const prompt = connectScriptedTab(net, () => SCRIPT);
    const controller = new AbortController();

    const first = post(net, chat({ stream: true }), { signal: controller.signal });
    await vi.waitFor(() => expect(stalled.tasks).toHaveLength(1));
    const second = await post(net, chat());

    expect(second.headers.get('x-dolphin-tab')).toBe(prompt.tab.id);
    expect(stalled.tasks).toHaveLength(1);
    expect(net.board.waitingCount).toBe(0);
    controller.abort();
    await (await first).body?.cancel();
  });
});

describe('POST /v1/chat/completions (streaming)', () => {
  it('streams SSE chunks: role first, content deltas, finish_reason last, then [DONE]', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);

    const response = await post(net, chat({ stream: true }));

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-dolphin-tab')).toBe(tab.tab.id);
    expect(response.headers.get('x-dolphin-backend')).toBe('wasm');
    const data = await sseData(response);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as ChatCompletionChunk);
    expect(new Set(chunks.map((c) => c.id))).toEqual(new Set([tab.tasks[0]?.jobId]));
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ object: 'chat.completion.chunk', model: MODEL });
      expect(Number.isInteger(chunk.created)).toBe(true);
      expect(chunk).not.toHaveProperty('usage');
      expect(chunk.choices).toHaveLength(1);
    }
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(scriptText(SCRIPT));
    expect(chunks.map((c) => c.choices[0]?.finish_reason)).toEqual([...chunks.slice(1).map(() => null), 'stop']);
    expect(chunks.every((c) => c.choices[0]?.logprobs === null)).toBe(true);
  });

  it('adds a final usage chunk with no choices when include_usage is set, and usage: null before it', async () => {
    const net = network();
    connectScriptedTab(net, () => SCRIPT);

    const data = await sseData(await post(net, chat({ stream: true, stream_options: { include_usage: true } })));

    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as ChatCompletionChunk);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
    const earlier = chunks.slice(0, -1);
    expect(earlier.every((c) => c.usage === null && c.choices.length === 1)).toBe(true);
    expect(earlier.at(-1)?.choices[0]?.finish_reason).toBe('stop');
  });

  it('streams logprobs on each token chunk when asked', async () => {
    const net = network();
    connectScriptedTab(net, () => SCRIPT);

    const data = await sseData(await post(net, chat({ stream: true, logprobs: true })));

    const tokenChunks = data.slice(1, -2).map((d) => JSON.parse(d) as ChatCompletionChunk);
    expect(tokenChunks.map((c) => c.choices[0]?.logprobs?.content.map((l) => l.token))).toEqual([['Hel'], ['lo']]);
  });

  it('ends with an error event, and no [DONE], when the tab fails after the first token', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [token(0, 'Hel'), failed('worker_error', 'device lost')]);

    const response = await post(net, chat({ stream: true }));

    expect(response.status).toBe(200);
    const data = await sseData(response);
    expect(data).not.toContain('[DONE]');
    expect(JSON.parse(data.at(-1) ?? 'null')).toEqual({
      error: { message: expect.stringContaining('device lost'), type: 'service_unavailable_error', param: null, code: 'worker_error' },
    });
    expect(data.slice(0, -1).map((d) => (JSON.parse(d) as ChatCompletionChunk).choices[0]?.delta.content).join('')).toBe('Hel');
    expect(tab.tab.runningJobs).toBe(0);
  });
});

describe('POST /v1/chat/completions with batched tokens', () => {
  const alternatives = (text: string) => [{ token: text, logprob: -0.5 }, { token: 'x', logprob: -4 }];
  /** A first token on its own, a batch, a single token, another batch, and done with one unstreamed end-of-sequence token. */
  const BATCHED: JobEvent[] = [
    token(0, 'Hel'),
    batch(tokenEntry(1, 'lo'), tokenEntry(2, ','), tokenEntry(3, ' wor')),
    token(4, 'ld'),
    batch(tokenEntry(5, '!'), tokenEntry(6, ' Bye')),
    done('.', 8, 11),
  ];
  const TEXTS = ['Hel', 'lo', ',', ' wor', 'ld', '!', ' Bye'];
  /** The same tokens, each with two alternatives. */
  const withAlternatives = (events: JobEvent[]): JobEvent[] =>
    events.map((e) => (e.type === 'tokens' ? { ...e, tokens: e.tokens.map((t) => tokenEntry(t.index, t.text, alternatives(t.text))) } : e));

  it('concatenates the text of every token, in order, and reports usage', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => BATCHED);

    const body = (await (await post(net, chat())).json()) as ChatCompletion;

    expect(body.choices[0]?.message.content).toBe('Hello, world! Bye.');
    expect(body.choices[0]?.finish_reason).toBe('stop');
    expect(body.usage).toEqual({ prompt_tokens: 11, completion_tokens: 8, total_tokens: 19 });
    expect(tab.tab).toMatchObject({ runningJobs: 0, tokensServed: 7, jobsServed: 1 });
  });

  it('lists the logprobs of every token of every batch, in order, with their alternatives', async () => {
    const net = network();
    connectScriptedTab(net, () => withAlternatives(BATCHED));

    const body = (await (await post(net, chat({ logprobs: true, top_logprobs: 2 }))).json()) as ChatCompletion;

    const content = body.choices[0]?.logprobs?.content ?? [];
    expect(content.map((l) => l.token)).toEqual(TEXTS);
    expect(content.map((l) => l.logprob)).toEqual(TEXTS.map((_, i) => -0.5 - i));
    expect(content.map((l) => l.top_logprobs.map((t) => t.token))).toEqual(TEXTS.map((text) => [text, 'x']));
    expect(content[3]).toEqual({
      token: ' wor',
      logprob: -3.5,
      bytes: [32, 119, 111, 114],
      top_logprobs: [{ token: ' wor', logprob: -0.5, bytes: [32, 119, 111, 114] }, { token: 'x', logprob: -4, bytes: [120] }],
    });
  });

  it('streams one chunk per token, a whole batch in one write', async () => {
    const net = network();
    connectScriptedTab(net, () => BATCHED);

    const writes = await bodyWrites(await post(net, chat({ stream: true })));

    // role, token 0, the batch of three, token 4, the batch of two, finish, [DONE]
    expect(writes.map((w) => dataOf(w).length)).toEqual([1, 1, 3, 1, 2, 1, 1]);
    expect(writes.every((w) => w.endsWith('\n\n'))).toBe(true);
    const data = writes.flatMap(dataOf);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as ChatCompletionChunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content)).toEqual(['', ...TEXTS, '.']);
    expect(chunks.map((c) => c.choices[0]?.finish_reason)).toEqual([...chunks.slice(1).map(() => null), 'stop']);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.choices[0]?.logprobs === null)).toBe(true);
  });

  it('streams the logprobs of each token of a batch on its own chunk', async () => {
    const net = network();
    connectScriptedTab(net, () => withAlternatives(BATCHED));

    const writes = await bodyWrites(await post(net, chat({ stream: true, logprobs: true, top_logprobs: 2 })));

    expect(writes.map((w) => dataOf(w).length)).toEqual([1, 1, 3, 1, 2, 1, 1]);
    const tokenChunks = writes.slice(1, -2).flatMap(dataOf).map((d) => JSON.parse(d) as ChatCompletionChunk);
    expect(tokenChunks.map((c) => c.choices[0]?.delta.content)).toEqual(TEXTS);
    expect(tokenChunks.map((c) => c.choices[0]?.logprobs?.content.map((l) => [l.token, l.logprob, l.top_logprobs.length]))).toEqual(TEXTS.map((text, i) => [[text, -0.5 - i, 2]]));
  });

  // A token whose text is held back (a stop sequence may be forming) has nothing to show, only logprobs.
  const HELD_BACK: JobEvent[] = [token(0, 'a'), batch(tokenEntry(1, ''), tokenEntry(2, '')), batch(tokenEntry(3, 'b'), tokenEntry(4, '')), done('c', 5)];

  it('skips tokens with empty text, and writes nothing for a batch of them, when logprobs are not asked for', async () => {
    const net = network();
    connectScriptedTab(net, () => HELD_BACK);

    const writes = await bodyWrites(await post(net, chat({ stream: true })));

    // role, token 0, (nothing for tokens 1-2), token 3 alone, finish, [DONE]
    expect(writes.map((w) => dataOf(w).length)).toEqual([1, 1, 1, 1, 1]);
    const chunks = writes.flatMap(dataOf).slice(0, -1).map((d) => JSON.parse(d) as ChatCompletionChunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content)).toEqual(['', 'a', 'b', 'c']);
  });

  it('streams a chunk for every token, empty text included, when logprobs are asked for', async () => {
    const net = network();
    connectScriptedTab(net, () => HELD_BACK);

    const writes = await bodyWrites(await post(net, chat({ stream: true, logprobs: true })));

    expect(writes.map((w) => dataOf(w).length)).toEqual([1, 1, 2, 2, 1, 1]);
    const tokenChunks = writes.slice(1, -2).flatMap(dataOf).map((d) => JSON.parse(d) as ChatCompletionChunk);
    expect(tokenChunks.map((c) => c.choices[0]?.delta.content)).toEqual(['a', '', '', 'b', '']);
    expect(tokenChunks.map((c) => c.choices[0]?.logprobs?.content.map((l) => l.logprob))).toEqual([[-0.5], [-1.5], [-2.5], [-3.5], [-4.5]]);
  });

  it('reports usage for a batched stream when include_usage is set', async () => {
    const net = network();
    connectScriptedTab(net, () => BATCHED);

    const data = await sseData(await post(net, chat({ stream: true, stream_options: { include_usage: true } })));

    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as ChatCompletionChunk);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 11, completion_tokens: 8, total_tokens: 19 } });
    const earlier = chunks.slice(0, -1);
    expect(earlier).toHaveLength(1 + TEXTS.length + 1);
    expect(earlier.every((c) => c.usage === null)).toBe(true);
    expect(earlier.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello, world! Bye.');
  });

  it('ends a stream with protocol_error, streaming nothing of the batch, when a batch skips an index', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [token(0, 'Hel'), batch(tokenEntry(1, 'lo'), tokenEntry(3, ' skipped')), done('', 3)]);

    const data = await sseData(await post(net, chat({ stream: true })));

    expect(data).not.toContain('[DONE]');
    expect(JSON.parse(data.at(-1) ?? 'null')).toMatchObject({ error: { type: 'service_unavailable_error', code: 'protocol_error' } });
    expect(data.slice(0, -1).map((d) => (JSON.parse(d) as ChatCompletionChunk).choices[0]?.delta.content)).toEqual(['', 'Hel']);
    expect(tab.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: tab.tasks[0]?.jobId }]);
    expect(tab.link.closes).toEqual(['protocol_error']);
    expect(tab.tab).toMatchObject({ ready: false, runningJobs: 0 });
  });

  it('answers 503 protocol_error, and disconnects the tab, when a batch crosses max_tokens', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [token(0, 'a'), batch(tokenEntry(1, 'b'), tokenEntry(2, 'c'), tokenEntry(3, 'd')), done('', 4)]);

    await expectError(await post(net, chat({ max_tokens: 3 })), 503, { type: 'service_unavailable_error', param: null, code: 'protocol_error' });

    expect(tab.tasks[0]?.params.maxTokens).toBe(3);
    expect(tab.link.closes).toEqual(['protocol_error']);
    expect(tab.tab).toMatchObject({ ready: false, runningJobs: 0 });
  });

  it('answers 503 protocol_error when the first message is a batch that repeats an index', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [batch(tokenEntry(0, 'a'), tokenEntry(0, 'a'))]);

    await expectError(await post(net, chat({ stream: true })), 503, { type: 'service_unavailable_error', param: null, code: 'protocol_error' });

    expect(tab.link.closes).toEqual(['protocol_error']);
  });
});

describe('client hang-up', () => {
  it('cancels the job on the tab when the client aborts a stream', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [token(0, 'Hel')]); // then silence: the job stays open
    const controller = new AbortController();

    const response = await post(net, chat({ stream: true }), { signal: controller.signal });
    const reader = response.body?.getReader();
    expect((await reader?.read())?.done).toBe(false);
    expect(tab.tab.runningJobs).toBe(1);

    controller.abort();

    const jobId = tab.tasks[0]?.jobId;
    await vi.waitFor(() => {
      expect(tab.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId }]);
      expect(tab.tab.runningJobs).toBe(0);
    }, { timeout: 2000, interval: 10 });
    expect(net.board.size).toBe(0);
    await reader?.cancel();
  });

  // Hang-up is noticed only through the request's AbortSignal; over a real socket, @hono/node-server aborts it
  // when the connection closes early. app.request() has no socket, so this one runs a real server.
  it('cancels the job on the tab when the client drops the connection mid-stream', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [token(0, 'Hel')]);
    const server = await listen(net);
    try {
      const response = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${economy.apiKey}` }, body: JSON.stringify(chat({ stream: true })) });
      const reader = response.body?.getReader();
      expect((await reader?.read())?.done).toBe(false);
      expect(tab.tab.runningJobs).toBe(1);

      await reader?.cancel();

      await vi.waitFor(() => {
        expect(tab.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: tab.tasks[0]?.jobId }]);
        expect(tab.tab.runningJobs).toBe(0);
      }, { timeout: 2000, interval: 10 });
      expect(tab.link.closes).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('cancels the job on the tab when the client aborts a non-streaming request', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [token(0, 'Hel')]);
    const controller = new AbortController();

    const pending = post(net, chat(), { signal: controller.signal });
    await vi.waitFor(() => expect(tab.tasks).toHaveLength(1));
    controller.abort();

    expect((await pending).status).toBe(499);
    expect(tab.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: tab.tasks[0]?.jobId }]);
    expect(tab.tab.runningJobs).toBe(0);
  });
});

describe('POST /v1/chat/completions when every tab is busy', () => {
  // A tab holds one job here, so a second request finds it busy (job-board-queues.test.ts covers queues per tab).
  it('waits for the busy tab and serves the request when it frees up, in arrival order', async () => {
    const net = network({ jobsPerTab: 1 });
    const tab = connectScriptedTab(net, () => []); // answers by hand
    const first = post(net, chat());
    await vi.waitFor(() => expect(tab.tasks).toHaveLength(1));
    const second = post(net, chat({ messages: [{ role: 'user', content: 'second' }] }));
    const third = post(net, chat({ messages: [{ role: 'user', content: 'third' }] }));
    await vi.waitFor(() => expect(net.board.waitingCount).toBe(2));
    expect(tab.tasks).toHaveLength(1);

    tab.say(tab.tasks[0]?.jobId, [token(0, 'one'), done('', 1)]);
    expect(((await (await first).json()) as ChatCompletion).choices[0]?.message.content).toBe('one');
    await vi.waitFor(() => expect(tab.tasks).toHaveLength(2));
    expect(tab.tasks[1]?.messages).toEqual([{ role: 'user', content: 'second' }]);
    expect(net.board.waitingCount).toBe(1);

    tab.say(tab.tasks[1]?.jobId, [token(0, 'two'), done('', 1)]);
    const response = await second;
    expect(response.status).toBe(200);
    expect(response.headers.get('x-dolphin-tab')).toBe(tab.tab.id);
    expect(((await response.json()) as ChatCompletion).choices[0]?.message.content).toBe('two');
    await vi.waitFor(() => expect(tab.tasks).toHaveLength(3));
    expect(tab.tasks[2]?.messages).toEqual([{ role: 'user', content: 'third' }]);
    tab.say(tab.tasks[2]?.jobId, [done('', 0)]);
    expect((await third).status).toBe(200);
  });

  it('answers 503 tabs_busy when no tab frees up within queueTimeoutMs', async () => {
    const net = network({ jobsPerTab: 1, queueTimeoutMs: 50 });
    const tab = connectScriptedTab(net, () => [token(0, 'a')]); // never finishes
    const controller = new AbortController();
    const first = post(net, chat({ stream: true }), { signal: controller.signal });
    await vi.waitFor(() => expect(tab.tasks).toHaveLength(1));

    const started = Date.now();
    const body = await expectError(await post(net, chat()), 503, { type: 'service_unavailable_error', param: 'model', code: 'tabs_busy' });

    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(body.error.message).toContain(MODEL);
    expect(tab.tasks).toHaveLength(1);
    expect(net.board.waitingCount).toBe(0);
    controller.abort();
    await (await first).body?.cancel();
  });

  it('answers 429 queue_full with Retry-After when the model’s queue is full, and keeps serving those already queued', async () => {
    const net = network({ jobsPerTab: 1, maxWaitingPerModel: 1 });
    const tab = connectScriptedTab(net, () => []); // answers by hand
    const first = post(net, chat());
    await vi.waitFor(() => expect(tab.tasks).toHaveLength(1));
    const second = post(net, chat({ messages: [{ role: 'user', content: 'second' }] }));
    await vi.waitFor(() => expect(net.board.waitingCount).toBe(1));

    const refused = await post(net, chat({ messages: [{ role: 'user', content: 'third' }] }));
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = await expectError(refused, 429, { type: 'rate_limit_error', param: 'model', code: 'queue_full' });
    expect(body.error.message).toContain(MODEL);
    expect(net.board.waitingCount).toBe(1);

    tab.say(tab.tasks[0]?.jobId, [token(0, 'one'), done('', 1)]);
    expect((await first).status).toBe(200);
    await vi.waitFor(() => expect(tab.tasks).toHaveLength(2));
    tab.say(tab.tasks[1]?.jobId, [done('', 0)]);
    expect((await second).status).toBe(200);
  });

  it('answers 503 no_capacity to waiting requests when the only tab serving the model leaves', async () => {
    const net = network({ jobsPerTab: 1 });
    const tab = connectScriptedTab(net, () => []);
    const first = post(net, chat());
    await vi.waitFor(() => expect(tab.tasks).toHaveLength(1));
    const queued = post(net, chat());
    await vi.waitFor(() => expect(net.board.waitingCount).toBe(1));

    net.registry.remove(tab.tab.id);
    net.board.tabClosed(tab.tab);

    await expectError(await first, 503, { type: 'service_unavailable_error', param: null, code: 'tab_disconnected' });
    await expectError(await queued, 503, { type: 'service_unavailable_error', param: 'model', code: 'no_capacity' });
  });

  it('answers 499 and gives up its place when the client aborts while waiting', async () => {
    const net = network({ jobsPerTab: 1 });
    const tab = connectScriptedTab(net, () => []);
    const first = post(net, chat());
    await vi.waitFor(() => expect(tab.tasks).toHaveLength(1));
    const controller = new AbortController();
    const queued = post(net, chat(), { signal: controller.signal });
    await vi.waitFor(() => expect(net.board.waitingCount).toBe(1));

    controller.abort();

    await expectError(await queued, 499, { type: 'invalid_request_error', param: null, code: 'client_closed_request' });
    expect(net.board.waitingCount).toBe(0);
    tab.say(tab.tasks[0]?.jobId, [done('', 0)]);
    expect((await first).status).toBe(200);
    expect(tab.tasks).toHaveLength(1);
    expect(tab.tab.runningJobs).toBe(0);
  });
});

describe('POST /v1/chat/completions with a tab that breaks the contract', () => {
  it('answers 503 protocol_error and disconnects the tab', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [token(1, 'skipped ahead')]);

    await expectError(await post(net, chat()), 503, { type: 'service_unavailable_error', param: null, code: 'protocol_error' });

    expect(tab.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: tab.tasks[0]?.jobId }]);
    expect(tab.link.closes).toEqual(['protocol_error']);
    expect(tab.tab).toMatchObject({ ready: false, runningJobs: 0 });
    // With the tab gone from the pool, the next request finds no tab.
    await expectError(await post(net, chat()), 503, { type: 'service_unavailable_error', param: 'model', code: 'no_capacity' });
    expect(tab.tasks).toHaveLength(1);
  });

  it('ends a stream with a protocol_error event, and no [DONE], when the violation comes after the first token', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [token(0, 'Hel'), token(1, 'lo', [{ token: 'x', logprob: -1 }]), done('', 2)]);

    const data = await sseData(await post(net, chat({ stream: true })));

    expect(data).not.toContain('[DONE]');
    expect(JSON.parse(data.at(-1) ?? 'null')).toMatchObject({ error: { type: 'service_unavailable_error', code: 'protocol_error' } });
    expect(tab.link.closes).toEqual(['protocol_error']);
  });

  it('answers 503 tab_timeout and disconnects a tab that goes silent', async () => {
    const net = network({ idleTimeoutMs: 50 });
    const tab = connectScriptedTab(net, () => []);

    await expectError(await post(net, chat()), 503, { type: 'service_unavailable_error', param: null, code: 'tab_timeout' });

    expect(tab.link.ofType('cancel')).toEqual([{ type: 'cancel', jobId: tab.tasks[0]?.jobId }]);
    expect(tab.link.closes).toEqual(['tab_timeout']);
    expect(tab.tab.ready).toBe(false);
  });
});

describe('cross-origin headers', () => {
  const preflight = { method: 'OPTIONS', headers: { Origin: 'https://elsewhere.example', 'Access-Control-Request-Method': 'POST' } };
  const stream = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(chat({ stream: true })) };
  const cases: Array<[string, string, number, string, RequestInit]> = [
    ['the model list', '/v1/models', 200, 'cross-origin', {}],
    ['an API error', '/v1/models/nope', 404, 'cross-origin', {}],
    ['an unknown API route', '/v1/nope', 404, 'cross-origin', {}],
    ['a CORS preflight', '/v1/chat/completions', 204, 'cross-origin', preflight],
    ['a completion stream', '/v1/chat/completions', 200, 'cross-origin', stream],
    ['network status', '/api/network', 200, 'same-origin', {}],
    ['a model file', `/models/${MODEL}/onnx/model.onnx`, 200, 'same-origin', {}],
    ['an unknown page', '/nope', 404, 'same-origin', {}],
    ['a path that only starts like the API', '/v1', 404, 'same-origin', {}],
  ];

  it.each(cases)('answers %s (%s, HTTP %i) with CORP %s, COOP and COEP', async (_name, path, status, corp, init) => {
    const net = network();
    connectScriptedTab(net, () => SCRIPT);
    const response = await net.app.request(path, init);
    await response.arrayBuffer();
    expect(response.status).toBe(status);
    expect({
      corp: response.headers.get('cross-origin-resource-policy'),
      coop: response.headers.get('cross-origin-opener-policy'),
      coep: response.headers.get('cross-origin-embedder-policy'),
    }).toEqual({ corp, coop: 'same-origin', coep: 'require-corp' });
  });

  it('lets other origins read who served a completion (the x-dolphin-* headers)', async () => {
    const net = network();
    connectScriptedTab(net, () => SCRIPT);
    const response = await net.app.request('/v1/chat/completions', { ...stream, headers: { ...stream.headers, Origin: 'https://elsewhere.example' } });
    await response.arrayBuffer();
    const exposed = response.headers.get('access-control-expose-headers')?.split(',').map((h) => h.trim().toLowerCase());
    expect(exposed).toEqual(expect.arrayContaining(['x-dolphin-tab', 'x-dolphin-contributor', 'x-dolphin-backend', 'x-dolphin-transport', 'x-dolphin-seed']));
  });
});

describe('GET /models/:id/:path', () => {
  const dir = () => join(fixture.root, 'models', MODEL);

  it('streams a listed file whole, with its length and the manifest sha256 as ETag', async () => {
    const response = await network().app.request(`/models/${MODEL}/onnx/model.onnx`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('content-length')).toBe(String(ONNX_BYTES.length));
    expect(response.headers.get('etag')).toBe(`"${ONNX_SHA}"`);
    const body = new Uint8Array(await response.arrayBuffer());
    expect(body.length).toBe(ONNX_BYTES.length);
    expect(Buffer.from(body).equals(Buffer.from(ONNX_BYTES))).toBe(true);
  });

  it('serves each listed file with its own ETag, and the manifest itself', async () => {
    const net = network();
    const config = await net.app.request(`/models/${MODEL}/config.json`);
    expect(config.status).toBe(200);
    expect(config.headers.get('content-type')).toMatch(/^application\/json/);
    expect(config.headers.get('etag')).toBe(`"${CONFIG_SHA256}"`);
    expect(await config.text()).toBe(await readFile(join(dir(), 'config.json'), 'utf8'));

    const manifest = await net.app.request(`/models/${MODEL}/manifest.json`);
    expect(manifest.status).toBe(200);
    const text = await readFile(join(dir(), 'manifest.json'), 'utf8');
    expect(manifest.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(await manifest.text()).toBe(text);
  });

  it.each([
    ['a file in the folder the manifest does not list', `/models/${MODEL}/notes.txt`],
    ['a listed path under another model id', '/models/no-such-model/onnx/model.onnx'],
    ['a partial path', `/models/${MODEL}/onnx`],
    ['an encoded way out of the folder', `/models/${MODEL}/onnx%2F..%2Fnotes.txt`],
  ])('answers 404 for %s', async (_name, path) => {
    const response = await network().app.request(path);
    expect(response.status).toBe(404);
    expect(response.headers.get('etag')).toBeNull();
    expect(await response.text()).not.toContain('not in the manifest');
  });
});

describe('billing', () => {
  /** What countPromptTokens says of every prompt, and what an honest tab's `done` reports (done()'s default). */
  const PROMPT_TOKENS = 7;
  const STARTER = MICROS_PER_DPHN;
  const PRICE = priceOf(DEFAULT_ECONOMY.prices, MODEL);
  /** The quote of a request without max_tokens: the prompt, and every token the context has room for after it. */
  const MAX_COST = costOf(PRICE, PROMPT_TOKENS, CONTEXT_LENGTH - PROMPT_TOKENS);

  /**
   * A coordinator whose job board bills through its own economy (board hooks: who may take jobs, and each job's
   * end), where every prompt counts PROMPT_TOKENS tokens and a contributor identity gets its starter stake.
   */
  async function billedNetwork(options: { idleTimeoutMs?: number } = {}) {
    let board: JobBoard | undefined;
    const money = await testEconomy({
      catalogue: fixture.catalogue,
      settings: { starterCredits: STARTER, starterStake: 5 * MICROS_PER_DPHN, faucetPerHour: 1000 },
      countPromptTokens: () => PROMPT_TOKENS,
      changed: () => board?.dispatchWaiting(),
    });
    const built = testApp({ models: fixture, economy: money.wiring.deps, board: { idleTimeoutMs: options.idleTimeoutMs, ...money.wiring.board } });
    board = built.board;
    const server = built.app;
    const net: Network = { app: { request: (path: string, init?: RequestInit) => server.request(path, init), fetch: server.fetch }, registry: built.registry, board, drawnSeeds: [] };
    /** A scripted tab whose identity was accepted from 127.0.0.1 (and so staked), unless `staked` is false. */
    const connect = async (reply: (task: TaskMessage) => JobEvent[], staked = true) => {
      const tab = connectScriptedTab(net, reply);
      const id = tab.tab.contributorId;
      if (!id) throw new Error('the tab has no identity');
      if (staked) await money.wiring.deps.contributors.accepted(id, '127.0.0.1');
      return { ...tab, contributorId: id };
    };
    /** A requester holding `credits` µDPHN, and its key. */
    let accounts = 0;
    const account = async (credits = STARTER) => {
      const { secret, record } = newApiKey('test');
      const id = `acct_billing_${++accounts}`;
      await money.store.requesters.create({ id, name: id, key: record, starterCredits: credits });
      return { id, key: secret };
    };
    const complete = (key: string, body: unknown, init: RequestInit = {}) =>
      server.request('/v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` }, body: JSON.stringify(body), ...init });
    const call = (path: string, key: string, init: RequestInit = {}) => server.request(path, withKey(init, key));
    const get = async <T,>(path: string, key: string) => {
      const response = await call(path, key);
      expect(response.status).toBe(200);
      return (await response.json()) as T;
    };
    const balance = async (key: string) => (await get<AccountView>('/api/account', key)).balance;
    const usage = async (key: string) => (await get<Page<UsageView>>('/api/account/usage', key)).data;
    /** The account's one job once billing has ended it. */
    const ended = async (key: string) => {
      let job: UsageView | undefined;
      await vi.waitFor(async () => {
        const jobs = await usage(key);
        expect(jobs).toHaveLength(1);
        job = jobs[0];
        expect(job?.status).not.toBe('escrowed');
      }, { timeout: 2000, interval: 10 });
      if (!job) throw new Error('no job');
      return job;
    };
    return { net, money, connect, account, complete, call, get, balance, usage, ended };
  }

  const amount = (micros: number) => ({ micros, dphn: formatDphn(micros) });

  it('bills each choice of an n > 1 request as its own job, for the tokens it served', async () => {
    const { connect, account, complete, usage } = await billedNetwork();
    await connect(() => SCRIPT);
    await connect(() => [token(0, 'Hi'), done('', 1)]);
    const me = await account();
    const response = await complete(me.key, chat({ n: 2 }));
    expect(response.status).toBe(200);
    expect(((await response.json()) as ChatCompletion).usage).toEqual({ prompt_tokens: 2 * PROMPT_TOKENS, completion_tokens: 4, total_tokens: 2 * PROMPT_TOKENS + 4 });
    await vi.waitFor(async () => expect((await usage(me.key)).map((j) => j.status)).toEqual(['settled', 'settled']));
    const charged = (await usage(me.key)).map((j) => j.charged?.micros).sort((a, b) => (a ?? 0) - (b ?? 0));
    expect(charged).toEqual([costOf(PRICE, PROMPT_TOKENS, 1), costOf(PRICE, PROMPT_TOKENS, 3)]);
  });

  it('refunds every choice of an n > 1 request that fails before its answer: the client got none of their tokens', async () => {
    const { connect, account, complete, usage } = await billedNetwork();
    await connect(() => [token(0, 'a')]); // streams a token, then nothing
    await connect(() => [failed('worker_error')]);
    const me = await account();
    const response = await complete(me.key, chat({ n: 2 }));
    expect(response.status).toBe(503);
    await vi.waitFor(async () => expect((await usage(me.key)).map((j) => j.status)).toEqual(['refunded', 'refunded']));
  });

  it('charges exactly the tokens served at the model\'s price, pays the contributor its share, and returns the rest of the escrow', async () => {
    const { money, connect, account, complete, get, balance, ended } = await billedNetwork();
    const tab = await connect(() => SCRIPT);
    const me = await account();

    const response = await complete(me.key, chat());

    expect(response.status).toBe(200);
    expect(((await response.json()) as ChatCompletion).usage).toEqual({ prompt_tokens: PROMPT_TOKENS, completion_tokens: 3, total_tokens: PROMPT_TOKENS + 3 });
    const charge = costOf(PRICE, PROMPT_TOKENS, 3);
    expect(charge).toBe(950); // ceil((7 · 50,000 + 3 · 200,000) / 1000) µDPHN
    const job = await ended(me.key);
    expect(job).toEqual({
      job_id: tab.tasks[0]?.jobId,
      model: MODEL,
      status: 'settled',
      escrowed: amount(MAX_COST),
      charged: amount(charge),
      prompt_tokens: PROMPT_TOKENS,
      completion_tokens: 3,
      contributor_id: tab.contributorId,
      reason: null,
      created_at: expect.any(String),
      ended_at: expect.any(String),
    });
    expect(await balance(me.key)).toEqual(amount(STARTER - charge));
    expect(await money.store.ledger.balance(escrowAccount(job.job_id))).toBe(0);
    const { contributor, treasury } = splitCharge(charge, DEFAULT_ECONOMY.contributorSharePpm);
    const worker = await get<ContributorView>(`/api/contributors/${tab.contributorId}`, me.key);
    expect(worker.dphn.pending).toEqual(amount(contributor));
    expect(worker.dphn.staked).toEqual(amount(5 * MICROS_PER_DPHN));
    expect((await money.store.ledger.totals()).treasury).toBe(treasury);
  });

  it('charges a streamed completion the same way', async () => {
    const { connect, account, complete, balance, ended } = await billedNetwork();
    await connect(() => SCRIPT);
    const me = await account();

    const data = await sseData(await complete(me.key, chat({ stream: true })));

    expect(data.at(-1)).toBe('[DONE]');
    expect(await ended(me.key)).toMatchObject({ status: 'settled', charged: amount(costOf(PRICE, PROMPT_TOKENS, 3)), escrowed: amount(MAX_COST) });
    expect(await balance(me.key)).toEqual(amount(STARTER - costOf(PRICE, PROMPT_TOKENS, 3)));
  });

  it('escrows only what max_tokens allows', async () => {
    const { connect, account, complete, ended } = await billedNetwork();
    await connect(() => [token(0, 'a'), done('', 1)]);
    const me = await account();
    expect((await complete(me.key, chat({ max_tokens: 2 }))).status).toBe(200);
    expect(await ended(me.key)).toMatchObject({ status: 'settled', escrowed: amount(costOf(PRICE, PROMPT_TOKENS, 2)), charged: amount(costOf(PRICE, PROMPT_TOKENS, 1)) });
  });

  it('refunds in full a job whose tab fails', async () => {
    const { money, connect, account, complete, balance, ended } = await billedNetwork();
    await connect(() => [token(0, 'Hel'), failed('worker_error', 'device lost')]);
    const me = await account();

    await expectError(await complete(me.key, chat()), 503, { type: 'service_unavailable_error', param: null, code: 'worker_error' });

    const job = await ended(me.key);
    expect(job).toMatchObject({ status: 'refunded', escrowed: amount(MAX_COST), charged: null, prompt_tokens: null, completion_tokens: null, contributor_id: null });
    expect(job.reason).toContain('worker_error');
    expect(await balance(me.key)).toEqual(amount(STARTER));
    expect(await money.store.ledger.balance(escrowAccount(job.job_id))).toBe(0);
  });

  it('charges a client that hangs up mid-stream for the prompt and the tokens it was sent, and returns the rest', async () => {
    const { connect, account, complete, balance, ended } = await billedNetwork();
    const tab = await connect(() => [token(0, 'Hel')]); // then silence
    const me = await account();
    const controller = new AbortController();

    const response = await complete(me.key, chat({ stream: true }), { signal: controller.signal });
    const reader = response.body?.getReader();
    expect((await reader?.read())?.done).toBe(false);
    expect(await balance(me.key)).toEqual(amount(STARTER - MAX_COST)); // held while it runs
    controller.abort();
    await vi.waitFor(() => expect(tab.link.ofType('cancel')).toHaveLength(1));

    const charge = costOf(PRICE, PROMPT_TOKENS, 1); // one token was streamed
    expect(await ended(me.key)).toMatchObject({ status: 'settled', charged: amount(charge), prompt_tokens: PROMPT_TOKENS, completion_tokens: 1 });
    expect(await balance(me.key)).toEqual(amount(STARTER - charge));
    await reader?.cancel().catch(() => {});
  });

  it('answers 402 insufficient_balance, naming the cost, when the balance cannot cover the quote, and starts no job', async () => {
    const { connect, account, complete, balance, usage } = await billedNetwork();
    const tab = await connect(() => SCRIPT);
    const me = await account(MAX_COST - 1);

    const body = await expectError(await complete(me.key, chat()), 402, { type: 'insufficient_quota', param: null, code: 'insufficient_balance' });

    expect(body.error.message).toContain(formatDphn(MAX_COST));
    expect(body.error.message).toContain('max_tokens');
    expect(tab.tasks).toEqual([]);
    expect(await usage(me.key)).toEqual([]);
    expect(await balance(me.key)).toEqual(amount(MAX_COST - 1));

    // A smaller max_tokens makes a smaller quote, which the balance covers.
    const response = await complete(me.key, chat({ max_tokens: 3 }));
    expect(response.status).toBe(200);
    expect(tab.tasks).toHaveLength(1);
  });

  it('fails a job whose tab reports another prompt token count than the coordinator counted (protocol_error), and refunds it', async () => {
    const { connect, account, complete, balance, ended } = await billedNetwork();
    const tab = await connect(() => [token(0, 'Hel'), token(1, 'lo'), done('!', 3, PROMPT_TOKENS + 1)]);
    const me = await account();

    await expectError(await complete(me.key, chat()), 503, { type: 'service_unavailable_error', param: null, code: 'protocol_error' });

    expect(tab.link.closes).toEqual(['protocol_error']);
    const job = await ended(me.key);
    expect(job).toMatchObject({ status: 'refunded', charged: null });
    expect(job.reason).toContain('protocol_error');
    expect(await balance(me.key)).toEqual(amount(STARTER));
  });

  it("holds each running request's quote, so a second request the rest of the balance cannot cover gets 402 while the first runs", async () => {
    const { connect, account, complete, balance, usage } = await billedNetwork();
    const tab = await connect(() => []); // answers by hand
    const me = await account(2 * MAX_COST - 1);

    const first = complete(me.key, chat());
    await vi.waitFor(() => expect(tab.tasks).toHaveLength(1));
    expect(await balance(me.key)).toEqual(amount(MAX_COST - 1));
    await expectError(await complete(me.key, chat()), 402, { type: 'insufficient_quota', param: null, code: 'insufficient_balance' });
    expect(tab.tasks).toHaveLength(1);

    tab.say(tab.tasks[0]?.jobId, SCRIPT);
    expect((await first).status).toBe(200);
    await vi.waitFor(async () => expect((await usage(me.key)).map((j) => j.status)).toEqual(['settled']));
    expect(await balance(me.key)).toEqual(amount(2 * MAX_COST - 1 - costOf(PRICE, PROMPT_TOKENS, 3)));
  });

  it('gives no more jobs to a tab whose identity unstakes below the minimum', async () => {
    const { money, connect, account, complete } = await billedNetwork();
    const tab = await connect(() => SCRIPT);
    const me = await account();
    expect((await complete(me.key, chat())).status).toBe(200);

    const unstaked = await money.wiring.deps.contributors.unstake(tab.contributorId, 5 * MICROS_PER_DPHN, 'test:unstake-all');
    expect(unstaked.ok).toBe(true);

    await expectError(await complete(me.key, chat()), 503, { type: 'service_unavailable_error', param: 'model', code: 'no_capacity' });
    expect(tab.tasks).toHaveLength(1);
  });

  it('answers 401 to a revoked key and starts no job', async () => {
    const { connect, account, complete, call, balance } = await billedNetwork();
    const tab = await connect(() => SCRIPT);
    const me = await account();
    const spare = (await (await call('/api/account/keys', me.key, { method: 'POST' })).json()) as { id: string; key: string };
    const keys = (await (await call('/api/account/keys', me.key)).json()) as { data: Array<{ id: string }> };
    const first = keys.data.find((k) => k.id !== spare.id);
    expect((await call(`/api/account/keys/${first?.id}`, spare.key, { method: 'DELETE' })).status).toBe(200);

    await expectError(await complete(me.key, chat()), 401, { type: 'invalid_request_error', param: null, code: 'invalid_api_key' });

    expect(tab.tasks).toEqual([]);
    expect(await balance(spare.key)).toEqual(amount(STARTER));
    expect((await complete(spare.key, chat())).status).toBe(200);
  });

  it('gives no job to a tab whose identity has too little stake: 503 no_capacity, refunded', async () => {
    const { connect, account, complete, balance, ended } = await billedNetwork();
    const tab = await connect(() => SCRIPT, false);
    const me = await account();

    await expectError(await complete(me.key, chat()), 503, { type: 'service_unavailable_error', param: 'model', code: 'no_capacity' });

    expect(tab.tasks).toEqual([]);
    expect(await ended(me.key)).toMatchObject({ status: 'refunded', charged: null });
    expect(await balance(me.key)).toEqual(amount(STARTER));
  });

  it('bills demo requests to the demo account, which the network tops up', async () => {
    const { money, connect, complete } = await billedNetwork();
    await connect(() => SCRIPT);

    const response = await complete(DEMO_API_KEY, chat());

    expect(response.status).toBe(200);
    await vi.waitFor(async () => expect((await money.store.billing.usage('demo', { limit: 10 })).jobs).toMatchObject([{ status: 'settled', charged: costOf(PRICE, PROMPT_TOKENS, 3) }]));
    expect(await money.store.ledger.balance(requesterAccount('demo'))).toBe(MAX_COST - costOf(PRICE, PROMPT_TOKENS, 3));
  });
});

describe('n > 1: one job per choice, split across tabs', () => {
  /** Each tab answers with a text naming its seed, so a choice shows which job served it. */
  const bySeed = (task: TaskMessage): JobEvent[] => [token(0, `s${task.params.seed}`), done('.', 2, 7)];

  it('runs each choice on its own tab with its own seed and escrow, and adds their usage', async () => {
    const net = network();
    const tabs = [connectScriptedTab(net, bySeed), connectScriptedTab(net, bySeed), connectScriptedTab(net, bySeed)];
    const response = await post(net, chat({ n: 3, seed: 40 }));
    expect(response.status).toBe(200);
    const body = (await response.json()) as ChatCompletion;
    expect(body.choices.map((c) => [c.index, c.message.content, c.finish_reason])).toEqual([
      [0, 's40.', 'stop'],
      [1, 's41.', 'stop'],
      [2, 's42.', 'stop'],
    ]);
    expect(body.usage).toEqual({ prompt_tokens: 21, completion_tokens: 6, total_tokens: 27 });
    // Three tabs, one task each: the split.
    expect(tabs.map((t) => t.tasks.length)).toEqual([1, 1, 1]);
    expect(new Set(tabs.map((t) => t.tasks[0]?.jobId)).size).toBe(3);
    expect(response.headers.get('x-dolphin-tab')?.split(',')).toHaveLength(3);
  });

  it('queues the choices a single tab cannot take at once, and streams every choice with its index', async () => {
    const net = network();
    const tab = connectScriptedTab(net, bySeed);
    const response = await post(net, chat({ n: 2, seed: 7, stream: true, stream_options: { include_usage: true } }));
    const data = await sseData(response);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as ChatCompletionChunk);
    const textOf = (index: number) => chunks.flatMap((c) => c.choices.filter((choice) => choice.index === index).map((choice) => choice.delta.content ?? '')).join('');
    expect([textOf(0), textOf(1)]).toEqual(['s7.', 's8.']);
    expect(chunks.flatMap((c) => c.choices.filter((choice) => choice.finish_reason).map((choice) => choice.index)).sort()).toEqual([0, 1]);
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 14, completion_tokens: 4, total_tokens: 18 });
    expect(tab.tasks.map((t) => t.params.seed)).toEqual([7, 8]);
  });

  it('fails the request when one choice fails, cancelling the others', async () => {
    const net = network();
    const good = connectScriptedTab(net, () => [token(0, 'a')]);
    const bad = connectScriptedTab(net, () => [failed('worker_error')]);
    await expectError(await post(net, chat({ n: 2 })), 503, { type: 'service_unavailable_error', param: null, code: 'worker_error' });
    await vi.waitFor(() => expect(good.link.ofType('cancel')).toHaveLength(1));
    expect(bad.tasks).toHaveLength(1);
    expect(net.board.size).toBe(0);
  });
});
