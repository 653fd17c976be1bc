import { upgradeWebSocket } from '@hono/node-server';
import { createParser } from 'eventsource-parser';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { API_LIMITS, type ChatCompletion, type ChatCompletionChunk, type ErrorBody } from '../../src/protocol/api.ts';
import { MAX_TAB_MESSAGE_CHARS, parseCoordinatorMessage, type TaskMessage } from '../../src/protocol/tab.ts';
import { helloFrame, RecordingLink } from '../../test/unit/tab-peer.ts';
import { createApp } from '../app.ts';
import { JobBoard, type JobEvent } from '../jobs/job-board.ts';
import { loadCatalogue, type ModelCatalogue } from '../models/catalogue.ts';
import { TabRegistry } from '../tabs/tab-registry.ts';
import { openTabSession, type TabSession } from '../transport/tab-session.ts';

const MODEL = 'tiny-a';
const OTHER_MODEL = 'tiny-b';
const CONTEXT_LENGTH = 96;
const ONNX_SHA = 'ab'.repeat(32);

let root: string;
let catalogue: ModelCatalogue;

/** A model folder as the catalogue reads it; the ONNX file it lists is never read by these routes. */
async function writeModelFolder(modelsDir: string, id: string): Promise<void> {
  const dir = join(modelsDir, id);
  await mkdir(dir, { recursive: true });
  const manifest = { id, parameters: 1234, files: [{ path: 'onnx/model.onnx', size: 10, sha256: ONNX_SHA }, { path: 'config.json', size: 1, sha256: 'cd'.repeat(32) }] };
  const config = { model_type: 'llama', vocab_size: 32, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: CONTEXT_LENGTH, eos_token_id: 2 };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dolphin-api-'));
  await Promise.all([writeModelFolder(join(root, 'models'), MODEL), writeModelFolder(join(root, 'models'), OTHER_MODEL), mkdir(join(root, 'web')), mkdir(join(root, 'ort'))]);
  catalogue = await loadCatalogue(join(root, 'models'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh coordinator (app, registry, board) over the shared catalogue. */
function network(idleTimeoutMs = 10_000) {
  const registry = new TabRegistry();
  const board = new JobBoard({ registry, idleTimeoutMs });
  const drawnSeeds: number[] = [];
  const randomSeed = () => {
    const seed = 1_000_000 + drawnSeeds.length;
    drawnSeeds.push(seed);
    return seed;
  };
  const app = createApp({ catalogue, registry, board, upgradeWebSocket, webDir: join(root, 'web'), ortDir: join(root, 'ort'), randomSeed, log: () => {} });
  return { app, registry, board, drawnSeeds };
}
type Network = ReturnType<typeof network>;

/**
 * A scripted peer in place of a contributor tab: it answers every task with the events `reply` returns, through
 * the real tab session. It runs no model; these tests pin the API's shape, not that inference works. Like the
 * real tab (src/lib/tab-link.ts), it drops any frame that `parseCoordinatorMessage` rejects, and keeps the reasons.
 */
function connectScriptedTab(net: Network, reply: (task: TaskMessage) => JobEvent[], models = [MODEL]) {
  let session: TabSession | undefined;
  const tasks: TaskMessage[] = [];
  const dropped: string[] = [];
  const link = new RecordingLink((sent) => {
    const parsed = parseCoordinatorMessage(JSON.stringify(sent));
    if (!parsed.ok) return void dropped.push(parsed.error);
    const message = parsed.message;
    if (message.type !== 'task') return;
    tasks.push(message);
    setTimeout(() => {
      for (const event of reply(message)) session?.receive(JSON.stringify({ ...event, jobId: message.jobId }));
    }, 0);
  });
  session = openTabSession(link, { registry: net.registry, board: net.board, knownModels: () => catalogue.ids(), log: () => {} });
  session.receive(helloFrame(models, 'wasm'));
  return { link, tab: session.tab, tasks, dropped };
}

const token = (index: number, text: string, top: Array<{ token: string; logprob: number }> = []): JobEvent => ({
  type: 'token',
  index,
  token: { id: index + 10, token: text, bytes: [...new TextEncoder().encode(text)], logprob: -0.5 - index },
  text,
  top: top.map((t, i) => ({ id: 200 + i, token: t.token, bytes: [...new TextEncoder().encode(t.token)], logprob: t.logprob })),
});
const done = (text = '', completionTokens = 2, promptTokens = 7): JobEvent => ({ type: 'done', finishReason: 'stop', text, promptTokens, completionTokens });
const failed = (code: string, message = `tab says ${code}`): JobEvent => ({ type: 'failed', code, message });

const SCRIPT: JobEvent[] = [token(0, 'Hel'), token(1, 'lo'), done('!', 3)];
const scriptText = (events: JobEvent[]) => events.map((e) => (e.type === 'failed' ? '' : e.text)).join('');

const chat = (body: Record<string, unknown> = {}) => ({ model: MODEL, messages: [{ role: 'user', content: 'Say hello' }], ...body });

function post(net: Network, body: unknown, init: RequestInit = {}) {
  return net.app.request('/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

async function expectError(response: Response, status: number, error: Omit<ErrorBody['error'], 'message'>) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as ErrorBody;
  expect(body).toEqual({ error: { message: expect.any(String), ...error } });
  expect(body.error.message.length).toBeGreaterThan(0);
  return body;
}

/** The `data:` payloads of an SSE body, in order. */
async function sseData(response: Response): Promise<string[]> {
  const data: string[] = [];
  const parser = createParser({ onEvent: (event) => data.push(event.data) });
  parser.feed(await response.text());
  return data;
}

describe('GET /v1/models', () => {
  it('lists the catalogue in OpenAI shape', async () => {
    const response = await network().app.request('/v1/models');
    expect(response.status).toBe(200);
    const created = async (id: string) => Math.floor((await stat(join(root, 'models', id, 'manifest.json'))).mtimeMs / 1000);
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
  it('answers an unknown /v1 route with a JSON 404', async () => {
    await expectError(await network().app.request('/v1/embeddings'), 404, { type: 'not_found_error', param: null, code: 'not_found' });
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
    ['n 2', chat({ n: 2 }), 400, { type: 'invalid_request_error', param: 'n', code: 'invalid_value' }],
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

describe('POST /v1/chat/completions size limits', () => {
  it('rejects a body over the request limit with 413', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);
    const body = JSON.stringify(chat({ user: 'x'.repeat(4 * 1024 * 1024) }));
    await expectError(await post(net, body), 413, { type: 'invalid_request_error', param: null, code: 'request_too_large' });
    expect(tab.tasks).toEqual([]);
  });

  it(`rejects a message longer than API_LIMITS.maxContentChars (${API_LIMITS.maxContentChars})`, async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => SCRIPT);
    const response = await post(net, chat({ messages: [{ role: 'user', content: 'x'.repeat(API_LIMITS.maxContentChars + 1) }] }));
    await expectError(response, 400, { type: 'invalid_request_error', param: 'messages[0].content', code: 'invalid_value' });
    expect(tab.tasks).toEqual([]);
  });

  // A conversation within the 4 MiB body limit can still make a task frame larger than a tab accepts
  // (MAX_TAB_MESSAGE_CHARS). The tab drops such a frame, so the job can only end by the idle timeout.
  it('rejects a conversation whose task would not fit in one tab message, instead of sending it', async () => {
    const net = network(300);
    const tab = connectScriptedTab(net, () => SCRIPT);
    const part = 'x'.repeat(Math.ceil(MAX_TAB_MESSAGE_CHARS / 8));
    const messages = Array.from({ length: 10 }, () => ({ role: 'user', content: part }));

    const response = await post(net, chat({ messages }));

    const body: unknown = await response.json();
    expect({ status: response.status, body }).toMatchObject({ status: 400, body: { error: { type: 'invalid_request_error', param: 'messages' } } });
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
    });
  });

  it.each([
    ['context_length_exceeded', 400, { type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' }],
    ['tab_disconnected', 503, { type: 'service_unavailable_error', param: null, code: 'tab_disconnected' }],
  ] as const)('maps a tab failure %s before the first token to HTTP %i', async (code, status, error) => {
    const net = network();
    const tab = connectScriptedTab(net, () => [failed(code)]);
    await expectError(await post(net, chat()), status, error);
    await expectError(await post(net, chat({ stream: true })), status, error);
    expect(tab.tab.runningJobs).toBe(0);
  });

  it('fails with the mapped status when the tab fails after the first token', async () => {
    const net = network();
    connectScriptedTab(net, () => [token(0, 'Hel'), failed('webgpu_lost')]);
    await expectError(await post(net, chat()), 503, { type: 'service_unavailable_error', param: null, code: 'webgpu_lost' });
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
      { maxTokens: catalogue.get(MODEL)?.config.max_position_embeddings, temperature: 1, topP: 1, topK: 0, stop: [], seed: net.drawnSeeds[0], topLogprobs: 0 },
      { maxTokens: 5, temperature: 1, topP: 1, topK: 0, stop: ['a', 'b'], seed: net.drawnSeeds[1], topLogprobs: 0 },
    ]);
  });

  it('sends concurrent requests to the least busy tab', async () => {
    const net = network();
    const stalled = connectScriptedTab(net, () => [token(0, 'a')]); // never finishes
    const prompt = connectScriptedTab(net, () => SCRIPT);

    const first = post(net, chat({ stream: true }));
    await vi.waitFor(() => expect(stalled.tasks).toHaveLength(1));
    const second = await post(net, chat());

    expect(second.headers.get('x-dolphin-tab')).toBe(prompt.tab.id);
    (await first).body?.cancel();
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
    const tab = connectScriptedTab(net, () => [token(0, 'Hel'), failed('webgpu_lost', 'device lost')]);

    const response = await post(net, chat({ stream: true }));

    expect(response.status).toBe(200);
    const data = await sseData(response);
    expect(data).not.toContain('[DONE]');
    expect(JSON.parse(data.at(-1) ?? 'null')).toEqual({
      error: { message: expect.stringContaining('device lost'), type: 'service_unavailable_error', param: null, code: 'webgpu_lost' },
    });
    expect(data.slice(0, -1).map((d) => (JSON.parse(d) as ChatCompletionChunk).choices[0]?.delta.content).join('')).toBe('Hel');
    expect(tab.tab.runningJobs).toBe(0);
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

  it('cancels the job on the tab when the client stops reading the stream', async () => {
    const net = network();
    const tab = connectScriptedTab(net, () => [token(0, 'Hel')]);

    const response = await post(net, chat({ stream: true }));
    const reader = response.body?.getReader();
    await reader?.read();
    await reader?.cancel();

    await vi.waitFor(() => {
      expect(tab.link.ofType('cancel')).toHaveLength(1);
      expect(tab.tab.runningJobs).toBe(0);
    }, { timeout: 2000, interval: 10 });
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
