/**
 * The walking skeleton end to end: real Chromium tabs (one on WASM, one on WebGPU via SwiftShader), the real
 * worker and engine on the generated tiny model, the real coordinator, and the official `openai` client.
 */
import { test, expect, type APIRequestContext } from '@playwright/test';
import OpenAI from 'openai';
import { openContributorTab, type ContributorTab } from '../support/contributor-tab.ts';
import { loadNodeModel } from '../support/node-model.ts';
import { runChatTask, type LoadedModel } from '../../worker/runtime.ts';
import type { PlainMessage } from '../../src/protocol/api.ts';
import { WebSocket } from 'ws';
import { helloMessage, TestIdentity } from '../unit/tab-peer.ts';
import { VERIFICATION_TOLERANCES } from '../../coordinator/trust/tolerances.ts';
import { newAccount } from '../support/account.ts';
import type { BatchView } from '../../src/protocol/batches.ts';

const MODEL = 'dolphin-tiny';
let tabs: ContributorTab[] = [];
let reference: LoadedModel;
let client: OpenAI;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ browser }, info) => {
  const baseURL = info.project.use.baseURL as string;
  client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: (await newAccount(baseURL)).apiKey, maxRetries: 0 });
  reference = await loadNodeModel(MODEL);
  tabs = await Promise.all([openContributorTab(browser, 'wasm'), openContributorTab(browser, 'webgpu')]);
});

const servedBefore = new Map<ContributorTab, string>();
test.beforeEach(async () => {
  for (const t of tabs) servedBefore.set(t, await t.page.getByTestId('served').innerText());
});

test.afterAll(async () => {
  await Promise.all(tabs.map((t) => t.close()));
  await reference?.engine.dispose();
});

/** Token ids from the API's logprobs: each token's bytes identify it uniquely in a byte-level BPE vocabulary. */
function idsFromBytes(model: LoadedModel, tokens: Array<{ bytes: number[] | null }>): number[] {
  const byBytes = new Map<string, number>();
  for (let id = 0; id < model.engine.vocabSize; id++) byBytes.set(model.tokenizer.piece(id).bytes.join(','), id);
  return tokens.map((t) => byBytes.get((t.bytes ?? []).join(',')) ?? -1);
}

const tabIdOf = async (t: ContributorTab) => /as (tab-\d+)/.exec(await t.page.getByTestId('status').innerText())?.[1] ?? '';
type Limits = { paused: boolean; models: string[] | null; share: number };
type NetworkView = { tabs: Array<{ id: string; contributorLimits: Limits }> };

/** Sets the contributor's limits on a tab, as its page would, and waits until the coordinator shows them. */
async function setLimits(request: APIRequestContext, t: ContributorTab, limits: Limits): Promise<void> {
  const id = await tabIdOf(t);
  await t.page.evaluate((l) => (window as unknown as { dolphin: { link(): { setLimits(l: Limits): void } } }).dolphin.link().setLimits(l), limits);
  await expect.poll(async () => ((await (await request.get('/api/network')).json()) as NetworkView).tabs.find((v) => v.id === id)?.contributorLimits).toEqual(limits);
}

/** Runs `work` while every tab but `only` is paused, so the scheduler can only choose `only`. */
async function onlyOn<T>(request: APIRequestContext, only: ContributorTab, work: () => Promise<T>): Promise<T> {
  const others = tabs.filter((t) => t !== only);
  for (const t of others) await setLimits(request, t, { paused: true, models: null, share: 1 });
  try {
    return await work();
  } finally {
    for (const t of others) await setLimits(request, t, { paused: false, models: null, share: 1 });
  }
}

async function referenceRun(messages: PlainMessage[], params: { maxTokens: number; temperature: number; topP: number; seed: number }) {
  const ids: number[] = [];
  const result = await runChatTask(reference, { messages, params: { ...params, topK: 0, stop: [], topLogprobs: 0 } }, (t) => ids.push(t.id));
  return { ids, ...result };
}

test('each tab streams a completion through the openai client, token for token equal to the Node reference', async ({ request }) => {
  const cases = [
    { messages: [{ role: 'user' as const, content: 'Hello, Dolphin! Как дела? 你好 🐬' }], maxTokens: 24, temperature: 0.8, topP: 0.95, seed: 1234 },
    { messages: [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Count: one two three' }], maxTokens: 20, temperature: 0, topP: 1, seed: 7 },
  ];
  // One case on each tab (the scheduler would give both to the faster one: the WASM tab is several times faster
  // than SwiftShader's WebGPU here).
  const served = [];
  for (const [i, c] of cases.entries()) {
    served.push(
      await onlyOn(request, tabs[i] as ContributorTab, async () => {
        const { data: stream, response } = await client.chat.completions
          .create({ model: MODEL, messages: c.messages, max_tokens: c.maxTokens, temperature: c.temperature, top_p: c.topP, seed: c.seed, stream: true, stream_options: { include_usage: true }, logprobs: true, top_logprobs: 2 })
          .withResponse();
        let content = '';
        const tokens: Array<{ bytes: number[] | null; logprob: number; top_logprobs: unknown[] }> = [];
        let usage: OpenAI.CompletionUsage | null | undefined;
        let finishReason: string | null = null;
        const ids = new Set<string>();
        for await (const chunk of stream) {
          ids.add(chunk.id);
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices[0];
          if (!choice) continue;
          content += choice.delta.content ?? '';
          tokens.push(...(choice.logprobs?.content ?? []));
          finishReason = choice.finish_reason ?? finishReason;
        }
        return { c, backend: response.headers.get('x-dolphin-backend'), transport: response.headers.get('x-dolphin-transport'), content, tokens, usage, finishReason, ids };
      }),
    );
  }

  expect(new Set(served.map((s) => s.backend))).toEqual(new Set(['wasm', 'webgpu']));
  expect(served.map((s) => s.transport)).toEqual(['webrtc', 'webrtc']);
  for (const s of served) {
    const expected = await referenceRun(s.c.messages, s.c);
    expect(expected.ids.length).toBeGreaterThan(0);
    expect(idsFromBytes(reference, s.tokens), `${s.backend} tab's tokens`).toEqual(expected.ids);
    expect(s.content).toBe(expected.text);
    expect(s.finishReason).toBe(expected.finishReason);
    expect(s.usage).toEqual({ prompt_tokens: expected.promptTokens, completion_tokens: expected.completionTokens, total_tokens: expected.promptTokens + expected.completionTokens });
    expect(s.tokens.every((t) => t.top_logprobs.length === 2 && t.logprob <= 0)).toBe(true);
    expect([...s.ids]).toHaveLength(1);
    expect([...s.ids][0]).toMatch(/^chatcmpl-/);
  }
});

test('tabs report the models they have cached and their calibration speed; the coordinator shows both', async ({ request }) => {
  type NetworkTabs = { tabs: Array<{ cached: string[]; calibration: Record<string, number>; backend: string }> };
  await expect
    .poll(async () => ((await (await request.get('/api/network')).json()) as NetworkTabs).tabs.map((t) => [t.backend, t.cached.includes(MODEL), (t.calibration[MODEL] ?? 0) > 0]).sort())
    .toEqual([
      ['wasm', true, true],
      ['webgpu', true, true],
    ]);
  for (const t of tabs) await expect(t.page.getByTestId('calibration')).toHaveText(/^\d+\.\d tokens\/s$/);
});

test('a contributor who pauses its tab gets no new jobs until it resumes', async ({ request }) => {
  const [paused, other] = tabs as [ContributorTab, ContributorTab];
  const otherId = await tabIdOf(other);
  await setLimits(request, paused, { paused: true, models: null, share: 1 });
  const served = await Promise.all([0, 1, 2].map(async (i) => (await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `paused? ${i}` }], max_tokens: 2 }).withResponse()).response.headers.get('x-dolphin-tab')));
  expect(served).toEqual([otherId, otherId, otherId]);
  await setLimits(request, paused, { paused: false, models: null, share: 1 });
});

test('the contributor sets its limits on the page: pause now, pause while hidden, share of time, other models; they survive a reload', async ({ browser, request }) => {
  const own = await openContributorTab(browser, 'wasm');
  try {
    const page = own.page;
    const shown = async () => {
      const id = await tabIdOf(own);
      return ((await (await request.get('/api/network')).json()) as NetworkView).tabs.find((t) => t.id === id)?.contributorLimits;
    };
    await expect.poll(shown).toEqual({ paused: false, models: null, share: 1 });
    // Keyboard only: focus the button and press Enter, as a person without a mouse does.
    await page.getByRole('button', { name: 'Pause now' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await shown())?.paused).toBe(true);
    await page.getByRole('button', { name: 'Paused: resume' }).click();
    await expect.poll(async () => (await shown())?.paused).toBe(false);

    await page.getByLabel('Pause while this tab is in the background').check();
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await expect.poll(async () => (await shown())?.paused).toBe(true);
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await expect.poll(async () => (await shown())?.paused).toBe(false);

    await page.getByLabel('Share of time this tab may compute').selectOption({ label: '50% (rests between jobs)' });
    await page.getByRole('checkbox', { name: /dolphin-small/ }).check();
    const chosen = { paused: false, models: ['dolphin-tiny', 'dolphin-small'], share: 0.5 };
    await expect.poll(shown).toEqual(chosen);

    // A reload starts a new session (a new tab id) with the same limits, kept in this browser.
    await page.reload();
    await expect(page.getByTestId('status')).toHaveAttribute('data-phase', 'serving');
    await expect.poll(shown).toEqual(chosen);
    await expect(page.getByLabel('Pause while this tab is in the background')).toBeChecked();
  } finally {
    await own.close();
  }
});

test('n: 3 is split across the tabs; each choice equals the reference run with its own seed, and usage adds up', async () => {
  const messages: PlainMessage[] = [{ role: 'user', content: 'Three ways to say hello' }];
  const params = { maxTokens: 12, temperature: 1, topP: 1, seed: 500 };
  const { data, response } = await client.chat.completions
    .create({ model: MODEL, messages, n: 3, max_tokens: params.maxTokens, temperature: params.temperature, top_p: params.topP, seed: params.seed, logprobs: true })
    .withResponse();
  // Two tabs serve the model: every one of them took a choice (the third waited for a free one).
  expect(new Set(response.headers.get('x-dolphin-tab')?.split(','))).toEqual(new Set(await Promise.all(tabs.map(async (t) => /as (tab-\d+)/.exec(await t.page.getByTestId('status').innerText())?.[1]))));
  expect(data.choices.map((c) => c.index)).toEqual([0, 1, 2]);
  let completionTokens = 0;
  let promptTokens = 0;
  for (const choice of data.choices) {
    const expected = await referenceRun(messages, { ...params, seed: params.seed + choice.index });
    expect(idsFromBytes(reference, choice.logprobs?.content ?? [])).toEqual(expected.ids);
    expect(choice.message.content).toBe(expected.text);
    completionTokens += expected.completionTokens;
    promptTokens += expected.promptTokens;
  }
  expect(data.usage).toMatchObject({ prompt_tokens: promptTokens, completion_tokens: completionTokens });
});

test('a batch of prompts runs across the tabs and returns every result in order, polled until done', async ({ request }) => {
  const headers = { Authorization: `Bearer ${client.apiKey}` };
  const prompts = ['one', 'two', 'three', 'four', 'five'].map((word, i) => ({ messages: [{ role: 'user' as const, content: `Say ${word}` }], seed: 900 + i }));
  const created = await request.post('/v1/batches', { headers, data: { requests: prompts.map((p) => ({ model: MODEL, messages: p.messages, max_tokens: 8, temperature: 0.7, seed: p.seed, logprobs: true })) } });
  expect(created.status()).toBe(200);
  const batch = (await created.json()) as BatchView;
  // Two tabs take the first two; the others wait with a place in the queue and an estimated start.
  expect(batch.results.filter((r) => r.status === 'queued').every((r) => r.queue_position !== null && r.estimated_start_at !== null)).toBe(true);
  let view = batch;
  await expect
    .poll(async () => {
      view = (await (await request.get(`/v1/batches/${batch.id}`, { headers })).json()) as BatchView;
      return view.status;
    })
    .toBe('completed');
  expect(view.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
  for (const [i, result] of view.results.entries()) {
    expect(result.index).toBe(i);
    const expected = await referenceRun(prompts[i]?.messages ?? [], { maxTokens: 8, temperature: 0.7, topP: 1, seed: 900 + i });
    expect(idsFromBytes(reference, result.response?.choices[0]?.logprobs?.content ?? [])).toEqual(expected.ids);
  }
});

test('a burst beyond what the tabs hold and the queue takes gets 429 queue_full with Retry-After; the rest is served', async ({ request }) => {
  // On the WASM tab alone (the SwiftShader tab would take long over its share): it holds two jobs and four more may
  // wait (QUEUE_PER_MODEL=4 here), so of 16 requests at once some must be turned away.
  const headers = { authorization: `Bearer ${client.apiKey}` };
  const wasm = tabs.find((t) => t.backend === 'wasm') as ContributorTab;
  const answers = await onlyOn(request, wasm, () =>
    Promise.all(Array.from({ length: 16 }, (_, i) => request.post('/v1/chat/completions', { headers, data: { model: MODEL, messages: [{ role: 'user', content: `Flood ${i}` }], max_tokens: 48, seed: i } }))),
  );
  const full = answers.filter((r) => r.status() === 429);
  expect(full.length).toBeGreaterThan(0);
  expect(answers.filter((r) => r.status() === 200).length + full.length).toBe(answers.length);
  for (const r of full) {
    expect(Number(r.headers()['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(((await r.json()) as { error: unknown }).error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full', param: 'model' });
  }
});

test('a completion from one backend passes re-scoring on the other (WebGPU <-> WASM)', async ({ request: api }) => {
  type RescoreWindow = { dolphin: { worker: { rescore(request: unknown): Promise<{ ok: boolean; maxIntervalDistance: number; maxLogitGap: number; maxLogprobDeviation: number }> } } };
  const tolerances = VERIFICATION_TOLERANCES;
  const cases = [
    { messages: [{ role: 'user' as const, content: 'Tell me a story about the reef.' }], max_tokens: 40, temperature: 0.9, top_p: 0.95, seed: 31 },
    { messages: [{ role: 'user' as const, content: 'List the colours of the sea.' }], max_tokens: 40, temperature: 0, top_p: 1, seed: 32 },
  ];
  const deviations: string[] = [];
  // One on each tab, so each direction is checked.
  const served = [];
  for (const [i, c] of cases.entries()) served.push(await onlyOn(api, tabs[i] as ContributorTab, async () => ({ c, ...(await client.chat.completions.create({ model: MODEL, ...c, logprobs: true }).withResponse()) })));
  expect(new Set(served.map((s) => s.response.headers.get('x-dolphin-backend')))).toEqual(new Set(['wasm', 'webgpu']));
  for (const { c, data, response } of served) {
    const backend = response.headers.get('x-dolphin-backend');
    const verifier = tabs.find((t) => t.backend !== backend);
    if (!verifier) throw new Error(`no tab other than ${backend}`);
    const logprobs = data.choices[0]?.logprobs?.content ?? [];
    const ids = idsFromBytes(reference, logprobs);
    const request = {
      model: MODEL,
      messages: c.messages,
      params: { maxTokens: c.max_tokens, temperature: c.temperature, topP: c.top_p, topK: 0, stop: [], seed: c.seed, topLogprobs: 0 },
      tokens: ids.map((id, i) => ({ id, logprob: logprobs[i]?.logprob ?? 0 })),
      finishReason: data.choices[0]?.finish_reason,
      completionTokens: data.usage?.completion_tokens,
      tolerances,
    };
    const verdict = await verifier.page.evaluate((r) => (window as unknown as RescoreWindow).dolphin.worker.rescore(r), request);
    expect(verdict, `${backend} -> ${verifier.backend}`).toMatchObject({ ok: true });
    deviations.push(`${backend}->${verifier.backend}: interval ${verdict.maxIntervalDistance.toExponential(1)}, gap ${verdict.maxLogitGap.toExponential(1)}, logprob ${verdict.maxLogprobDeviation.toExponential(1)}`);
  }
  console.log(`re-scoring across backends, largest deviations: ${deviations.join('; ')}`);
});

test('a data channel cut mid-stream falls back to the WebSocket without losing or repeating a token', async () => {
  const messages: PlainMessage[] = [{ role: 'user', content: 'Keep talking for a long while, please.' }];
  // Long enough that the tab is still generating when the cut lands (the tiny model decodes ~300 tokens/s here).
  const params = { maxTokens: 400, temperature: 0.9, topP: 0.95, seed: 99 };
  const { data: stream, response } = await client.chat.completions
    .create({ model: MODEL, messages, max_tokens: params.maxTokens, temperature: params.temperature, top_p: params.topP, seed: params.seed, stream: true, logprobs: true })
    .withResponse();
  expect(response.headers.get('x-dolphin-transport')).toBe('webrtc');
  const tabId = response.headers.get('x-dolphin-tab') ?? '';
  const statuses = await Promise.all(tabs.map((t) => t.page.getByTestId('status').innerText()));
  const serving = tabs[statuses.findIndex((s) => s.endsWith(` ${tabId}`))];
  if (!serving) throw new Error(`no page shows ${tabId}`);

  const tokens: Array<{ bytes: number[] | null }> = [];
  let cutAt = -1;
  for await (const chunk of stream) {
    tokens.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    if (cutAt < 0 && tokens.length >= 1) {
      cutAt = tokens.length;
      await serving.page.evaluate(() => (window as unknown as { dolphin: { closeDataChannel(): void } }).dolphin.closeDataChannel());
    }
  }
  const expected = await referenceRun(messages, params);
  expect(cutAt).toBeGreaterThan(0);
  expect(expected.ids.length, 'the cut must land mid-stream').toBeGreaterThan(cutAt + 10);
  expect(idsFromBytes(reference, tokens)).toEqual(expected.ids);
  await expect(serving.page.getByTestId('transport')).toHaveAttribute('data-transport', 'websocket');
  // The job really continued on the WebSocket from where the coordinator was (resume), not by luck.
  expect(await serving.page.evaluate(() => (window as unknown as { dolphin: { link(): { resumedJobs: number } } }).dolphin.link().resumedJobs)).toBe(1);
});

test('two tabs move a 5 MB payload over the mesh intact', async () => {
  type MeshWindow = { dolphin: { mesh(): { peerId: string; expect(id: string): void; dial(id: string): Promise<void>; send(id: string, p: Uint8Array): Promise<void> } | null; meshReceived: Array<{ from: string; payload: Uint8Array }> } };
  const [sender, receiver] = tabs as [ContributorTab, ContributorTab];
  const peerIdOf = (t: ContributorTab) => t.page.evaluate(() => (window as unknown as MeshWindow).dolphin.mesh()?.peerId ?? '');
  const [from, to] = [await peerIdOf(sender), await peerIdOf(receiver)];
  expect(from).toMatch(/^t[0-9a-f]{32}$/);
  // What the coordinator's mesh-expect / mesh-dial instructions do in each tab.
  await receiver.page.evaluate((id) => (window as unknown as MeshWindow).dolphin.mesh()?.expect(id), from);
  const sent = await sender.page.evaluate(async (id) => {
    const payload = new Uint8Array(5 * 1024 * 1024 + 7);
    for (let i = 0; i < payload.length; i += 65536) crypto.getRandomValues(payload.subarray(i, Math.min(payload.length, i + 65536)));
    const mesh = (window as unknown as MeshWindow).dolphin.mesh();
    if (!mesh) throw new Error('no mesh');
    await mesh.dial(id);
    const started = performance.now();
    await mesh.send(id, payload);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', payload));
    return { bytes: payload.length, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''), ms: performance.now() - started };
  }, to);
  const received = await receiver.page.evaluate(async () => {
    const got = (window as unknown as MeshWindow).dolphin.meshReceived[0];
    if (!got) return null;
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', got.payload as Uint8Array<ArrayBuffer>));
    return { from: got.from, bytes: got.payload.length, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
  });
  expect(received).toEqual({ from, bytes: sent.bytes, sha256: sent.sha256 });
  console.log(`mesh: 5 MB tab to tab in ${Math.round(sent.ms)} ms (${((sent.bytes / 1e6) / (sent.ms / 1000)).toFixed(1)} MB/s)`);
});

test('a non-streamed completion honours a stop sequence and reports usage', async () => {
  const messages: PlainMessage[] = [{ role: 'user', content: 'Tell me a story about the sea.' }];
  const free = await referenceRun(messages, { maxTokens: 30, temperature: 0, topP: 1, seed: 1 });
  // Stop on a piece of text the model really produces, so the cut is observable.
  const stop = free.text.slice(8, 10);
  expect(stop.length).toBe(2);
  const completion = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 30, temperature: 0, seed: 1, stop });
  const choice = completion.choices[0];
  expect(choice?.finish_reason).toBe('stop');
  expect(choice?.message.content).toBe(free.text.slice(0, free.text.indexOf(stop)));
  expect(completion.created).toBeGreaterThan(1_700_000_000);
  expect(completion.created).toBeLessThan(Date.now() / 1000 + 5);
  expect(completion.usage?.prompt_tokens).toBe(free.promptTokens);
});

test('bad requests get OpenAI-shaped 4xx errors', async ({ request }) => {
  const malformed = await request.post('/v1/chat/completions', { headers: { 'content-type': 'application/json', authorization: `Bearer ${client.apiKey}` }, data: '{"model": "dolphin-tiny", "messages": [' });
  expect(malformed.status()).toBe(400);
  expect((await malformed.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });

  const failures: Array<[Record<string, unknown>, number, string | null]> = [
    [{ model: MODEL }, 400, 'messages'],
    [{ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }, 404, 'model'],
    [{ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 0 }, 400, 'max_tokens'],
  ];
  for (const [body, status, param] of failures) {
    const error = await client.chat.completions.create(body as never).then(() => null, (e: unknown) => e);
    expect(error, JSON.stringify(body)).toBeInstanceOf(OpenAI.APIError);
    const apiError = error as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(status);
    expect(apiError.param).toBe(param);
    expect(typeof apiError.message).toBe('string');
  }
});

test('a client that hangs up cancels the tab’s work', async ({ request }) => {
  const controller = new AbortController();
  const { data: stream, response } = await client.chat.completions
    .create({ model: MODEL, messages: [{ role: 'user', content: 'Go on and on.' }], max_tokens: 400, temperature: 1, seed: 99, stream: true }, { signal: controller.signal })
    .withResponse();
  const servingTab = tabs.find((t) => t.backend === response.headers.get('x-dolphin-backend')) as ContributorTab;
  let chunks = 0;
  try {
    for await (const _ of stream) if (++chunks === 3) controller.abort();
  } catch {
    // the abort surfaces here
  }
  await expect.poll(async () => (await (await request.get('/api/network')).json()).runningJobs, { timeout: 10_000 }).toBe(0);
  await expect(servingTab.page.getByTestId('log')).toContainText('was cancelled');
  await expect(servingTab.page.getByTestId('current-job')).toHaveText('none');
  // The tab stopped early: it served no job to completion.
  await expect(servingTab.page.getByTestId('served')).toHaveText(/^\d+ jobs, \d+ tokens/);
  const served = await servingTab.page.getByTestId('served').innerText();
  expect(served).toBe(servedBefore.get(servingTab));
});

test('nothing starts before the contributor agrees to what runs and what is shared; the browser remembers the answer', async ({ browser }) => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto('/');
    const start = page.getByRole('button', { name: 'Start contributing' });
    const agree = page.getByRole('checkbox', { name: 'I agree to run these jobs on this device' });
    await expect(page.getByTestId('consent')).toContainText('shares with the coordinator');
    await expect(agree).not.toBeChecked();
    await expect(start).toBeDisabled();
    await agree.check();
    await expect(start).toBeEnabled();
    await page.reload();
    await expect(page.getByRole('checkbox', { name: 'I agree to run these jobs on this device' })).toBeChecked();
    await expect(page.getByRole('button', { name: 'Start contributing' })).toBeEnabled();
  } finally {
    await context.close();
  }
});

test('a reloaded tab takes the model from the Cache API and keeps its contributor identity', async ({ request }) => {
  const tab = tabs[0] as ContributorTab;
  const contributorId = await tab.page.getByTestId('contributor-id').innerText();
  expect(contributorId).toMatch(/^[0-9a-f]{40}$/);
  await tab.page.reload();
  await expect(tab.page.getByTestId('status')).toHaveAttribute('data-phase', 'serving');
  const source = tab.page.getByTestId('model-source');
  await expect(source).toContainText("from this browser's cache");
  expect(Number(await source.getAttribute('data-cached-bytes'))).toBeGreaterThan(500_000);
  // The key stayed in IndexedDB, and the coordinator, which derived the id from the proven key, agrees.
  await expect(tab.page.getByTestId('contributor-id')).toHaveText(contributorId);
  const network = (await (await request.get('/api/network')).json()) as { tabs: Array<{ contributorId: string | null }> };
  expect(network.tabs.map((t) => t.contributorId)).toContain(contributorId);
  // Each tab runs in its own browser context (profile), so the two tabs are two contributors.
  expect(new Set(network.tabs.map((t) => t.contributorId)).size).toBe(network.tabs.length);
});

test('a tab with a forged signature or a stolen identity is refused and gets no work', async ({ request }, info) => {
  const url = `${(info.project.use.baseURL as string).replace(/^http/, 'ws')}/tabs`;
  /** Opens a raw tab session; `proofFor` answers the welcome's challenge. Resolves with what the coordinator said. */
  const session = (proofFor: (challenge: string) => { publicKey: string; signature: string }) =>
    new Promise<{ messages: Array<{ type: string; code?: string; challenge?: string }>; closeCode: number }>((resolve, reject) => {
      const socket = new WebSocket(url);
      const messages: Array<{ type: string; code?: string; challenge?: string }> = [];
      const timer = setTimeout(() => reject(new Error('the coordinator neither accepted nor closed the session')), 5000);
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type: string; challenge?: string };
        messages.push(message);
        if (message.type === 'welcome') socket.send(JSON.stringify({ ...helloMessage([MODEL]), identity: proofFor(message.challenge ?? '') }));
        if (message.type === 'accepted') socket.close();
      });
      socket.on('close', (code) => {
        clearTimeout(timer);
        resolve({ messages, closeCode: code });
      });
    });
  const victim = new TestIdentity();
  const thief = new TestIdentity();

  const honest = await session((challenge) => victim.prove(challenge));
  // Accepted (an audit may follow at once: honest tabs verify others' jobs, and the burst test left some).
  expect(honest.messages.map((m) => m.type).slice(0, 2)).toEqual(['welcome', 'accepted']);

  const forged = await session((challenge) => ({ publicKey: victim.publicKey, signature: thief.prove(challenge).signature }));
  expect(forged.messages.map((m) => m.code ?? m.type)).toEqual(['welcome', 'unauthenticated']);

  const replayed = await session(() => victim.prove(honest.messages[0]?.challenge ?? ''));
  expect(replayed.messages.map((m) => m.code ?? m.type)).toEqual(['welcome', 'unauthenticated']);

  const network = (await (await request.get('/api/network')).json()) as { tabs: Array<{ contributorId: string | null }> };
  expect(network.tabs.map((t) => t.contributorId)).not.toContain(victim.contributorId);
});

test('a WebGPU worker loads a second model and comes back to the first', async () => {
  type LoadWindow = { dolphin: { worker: { load(request: unknown): Promise<{ modelId: string; backend: string }> } } };
  const webgpu = tabs.find((t) => t.backend === 'webgpu');
  if (!webgpu) throw new Error('no WebGPU tab');
  // onnxruntime-web freezes its WebGPU adapter setting once started; a second load must not try to set it again.
  for (const modelId of ['dolphin-small', MODEL]) {
    const loaded = await webgpu.page.evaluate((r) => (window as unknown as LoadWindow).dolphin.worker.load(r), { baseUrl: new URL(webgpu.page.url()).origin, modelId, backend: 'webgpu' });
    expect(loaded).toMatchObject({ modelId, backend: 'webgpu' });
  }
});

test('a hidden tab is preferred less: while one of two tabs is hidden, requests go to the visible one', async ({ browser, request }) => {
  // dolphin-small: served by these two tabs only. Neither has a measured speed at first, so visibility decides; the
  // tab to hide connects first, so without it the older tab would win the tie (and, measured first, keep winning).
  const pair = [await openContributorTab(browser, 'wasm', { model: 'dolphin-small' })];
  pair.push(await openContributorTab(browser, 'wasm', { model: 'dolphin-small' }));
  try {
    const [hidden, visible] = pair as [ContributorTab, ContributorTab];
    const [hiddenId, visibleId] = [await tabIdOf(hidden), await tabIdOf(visible)];
    // What the browser does when the page goes to the background: visibilityState turns hidden, visibilitychange fires.
    await hidden.page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    type NetworkTabs = { tabs: Array<{ id: string; hidden: boolean; contributorId: string | null }> };
    await expect.poll(async () => ((await (await request.get('/api/network')).json()) as NetworkTabs).tabs.find((t) => t.id === hiddenId)?.hidden).toBe(true);
    for (let i = 0; i < 4; i++) {
      const { response } = await client.chat.completions.create({ model: 'dolphin-small', messages: [{ role: 'user', content: `Which tab, ${i}?` }], max_tokens: 4, seed: i }).withResponse();
      expect(response.headers.get('x-dolphin-tab')).toBe(visibleId);
    }
  } finally {
    await Promise.all(pair.map((t) => t.close()));
  }
});

test('a tab whose contributor lists a model it has not loaded loads it for a job; two jobs queue in it; the tokens equal the reference', async ({ browser, request }) => {
  const lender = await openContributorTab(browser, 'wasm');
  const small = await loadNodeModel('dolphin-small');
  try {
    const lenderId = /as (tab-\d+)/.exec(await lender.page.getByTestId('status').innerText())?.[1] ?? '';
    type NetworkTabs = { tabs: Array<{ id: string; models: string[]; cached: string[] }> };
    const shown = async () => ((await (await request.get('/api/network')).json()) as NetworkTabs).tabs.find((t) => t.id === lenderId);
    // No tab serves dolphin-small until the contributor lists it.
    const refused = await request.post('/v1/chat/completions', { headers: { authorization: `Bearer ${client.apiKey}` }, data: { model: 'dolphin-small', messages: [{ role: 'user', content: 'hi' }] } });
    expect(refused.status()).toBe(503);
    // Sent once the tab has read its cache (async): wait until the coordinator has them before asking.
    await setLimits(request, lender, { paused: false, models: ['dolphin-tiny', 'dolphin-small'], share: 1 });
    expect((await shown())?.models).toEqual(['dolphin-tiny']);

    // Two requests at once: both go to the only tab that may serve the model, the second queued behind the first.
    const cases = [0, 1].map((i) => ({ messages: [{ role: 'user' as const, content: `On demand, ${i}` }], maxTokens: 12, temperature: 0.7, topP: 1, seed: 40 + i }));
    const answers = await Promise.all(
      cases.map(async (c) => {
        const { data, response } = await client.chat.completions
          .create({ model: 'dolphin-small', messages: c.messages, max_tokens: c.maxTokens, temperature: c.temperature, top_p: c.topP, seed: c.seed, logprobs: true })
          .withResponse();
        return { tab: response.headers.get('x-dolphin-tab'), ids: idsFromBytes(small, data.choices[0]?.logprobs?.content ?? []) };
      }),
    );
    for (const [i, answer] of answers.entries()) {
      const c = cases[i] as (typeof cases)[number];
      const expected: number[] = [];
      await runChatTask(small, { messages: c.messages, params: { maxTokens: c.maxTokens, temperature: c.temperature, topP: c.topP, seed: c.seed, topK: 0, stop: [], topLogprobs: 0 } }, (t) => expected.push(t.id));
      expect(answer).toEqual({ tab: lenderId, ids: expected });
    }
    // The tab now holds dolphin-small (and has cached it), says so, and shows it.
    await expect.poll(async () => (await shown())?.models).toEqual(['dolphin-small']);
    expect((await shown())?.cached).toContain('dolphin-small');
    await expect(lender.page.getByTestId('engine-model')).toContainText('dolphin-small');
  } finally {
    await lender.close();
    await small.engine.dispose();
  }
});

test('a tab killed mid-stream: the job continues on another tab and the stream equals an uninterrupted run', async ({ browser }) => {
  // Three tabs serve the model; the one streaming is closed after a few tokens.
  tabs.push(await openContributorTab(browser, 'wasm'));
  for (const t of tabs) servedBefore.set(t, await t.page.getByTestId('served').innerText());
  const messages: PlainMessage[] = [{ role: 'user', content: 'Keep talking for a long while, please.' }];
  // Long enough that the tab is still generating when it is closed: on a loaded machine the close can take a second
  // or more to reach the coordinator, and a tab that had finished by then would leave nothing to continue.
  const params = { maxTokens: 400, temperature: 0.9, topP: 0.95, seed: 99 };
  const { data: stream, response } = await client.chat.completions
    .create({ model: MODEL, messages, max_tokens: params.maxTokens, temperature: params.temperature, top_p: params.topP, seed: params.seed, stream: true, stream_options: { include_usage: true }, logprobs: true })
    .withResponse();
  const tabId = response.headers.get('x-dolphin-tab') ?? '';
  const statuses = await Promise.all(tabs.map((t) => t.page.getByTestId('status').innerText()));
  const killed = tabs[statuses.findIndex((s) => s.endsWith(` ${tabId}`))];
  if (!killed) throw new Error(`no page shows ${tabId}`);

  const tokens: Array<{ bytes: number[] | null }> = [];
  let content = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  let finishReason: string | null = null;
  let killedAt = -1;
  for await (const chunk of stream) {
    tokens.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    content += chunk.choices[0]?.delta.content ?? '';
    finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
    if (chunk.usage) usage = chunk.usage;
    if (killedAt < 0 && tokens.length >= 1) {
      killedAt = tokens.length;
      tabs = tabs.filter((t) => t !== killed);
      await killed.close();
    }
  }
  const expected = await referenceRun(messages, params);
  expect(expected.ids.length, 'the kill must land mid-stream').toBeGreaterThan(killedAt + 20);
  expect(idsFromBytes(reference, tokens)).toEqual(expected.ids);
  expect(content).toBe(expected.text);
  expect(finishReason).toBe(expected.finishReason);
  expect(usage).toMatchObject({ prompt_tokens: expected.promptTokens, completion_tokens: expected.completionTokens });
  // Another tab finished the job: its count of served jobs went up (the page shows it once the tab has sent its result).
  const jobsOf = (text: string | undefined) => Number.parseInt(text ?? '', 10);
  const servedSince = async () => (await Promise.all(tabs.map(async (t) => jobsOf(await t.page.getByTestId('served').innerText()) - jobsOf(servedBefore.get(t))))).reduce((a, b) => a + b, 0);
  await expect.poll(servedSince, { message: 'the job was finished by one of the tabs left' }).toBe(1);
});

test('a tab kept off WebRTC serves the same tokens over its WebSocket', async ({ browser }) => {
  await Promise.all(tabs.map((t) => t.close()));
  tabs = [await openContributorTab(browser, 'wasm', { webrtc: false })];
  const messages: PlainMessage[] = [{ role: 'user', content: 'Hello, Dolphin! Как дела? 你好 🐬' }];
  const params = { maxTokens: 24, temperature: 0.8, topP: 0.95, seed: 1234 };
  const { data, response } = await client.chat.completions
    .create({ model: MODEL, messages, max_tokens: params.maxTokens, temperature: params.temperature, top_p: params.topP, seed: params.seed, logprobs: true })
    .withResponse();
  expect(response.headers.get('x-dolphin-transport')).toBe('websocket');
  const expected = await referenceRun(messages, params);
  expect(idsFromBytes(reference, data.choices[0]?.logprobs?.content ?? [])).toEqual(expected.ids);
});

test('with no tab serving the model the API answers 503', async ({ request }) => {
  await Promise.all(tabs.map((t) => t.close()));
  tabs = [];
  await expect.poll(async () => (await (await request.get('/api/network')).json()).tabs.length).toBe(0);
  const error = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'anyone?' }] }).then(() => null, (e: unknown) => e);
  expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
  expect((error as InstanceType<typeof OpenAI.APIError>).message).toMatch(/No contributor tab is serving/);
});
