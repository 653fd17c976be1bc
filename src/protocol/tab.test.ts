import { describe, expect, it } from 'vitest';
import {
  MAX_TAB_MESSAGE_CHARS,
  MAX_TOKENS_PER_MESSAGE,
  parseCoordinatorMessage,
  parseTabMessage,
  TAB_PROTOCOL_VERSION,
  TASK_FAILURE_CODES,
  type CoordinatorToTab,
  type SamplingParams,
  type TabToCoordinator,
  type TokenEntry,
} from './tab.ts';

const candidate = (id: number, token: string) => ({ id, token, bytes: [...new TextEncoder().encode(token)], logprob: -1.5 });
const params: SamplingParams = { maxTokens: 16, temperature: 0.7, topP: 0.95, topK: 40, stop: ['\n'], seed: 123, topLogprobs: 2 };

const hello: Extract<TabToCoordinator, { type: 'hello' }> = {
  type: 'hello',
  protocol: TAB_PROTOCOL_VERSION,
  backend: 'webgpu',
  adapter: { vendor: 'acme', architecture: 'rdna', device: 'gpu0', description: 'Acme GPU', isFallbackAdapter: false },
  limits: { maxBufferSize: 1 << 30, maxStorageBufferBindingSize: 1 << 27 },
  models: ['dolphin-tiny'],
  identity: { publicKey: 'P'.repeat(43), signature: 'S'.repeat(86) },
};
const entry = (index: number, text = `t${index}`, alternatives = 2): TokenEntry => ({
  index,
  token: candidate(5 + index, text),
  text,
  top: Array.from({ length: alternatives }, (_, i) => candidate(100 + i, `alt${i}`)),
});
/** The first token of a job: always a batch of one. */
const token: Extract<TabToCoordinator, { type: 'tokens' }> = { type: 'tokens', jobId: 'chatcmpl-1', tokens: [entry(0, 'Hi')] };
/** Later tokens, batched; an entry's text may be empty (held back while a stop sequence may be forming). */
const batch: Extract<TabToCoordinator, { type: 'tokens' }> = { type: 'tokens', jobId: 'chatcmpl-1', tokens: [entry(1, ' there'), entry(2, ''), entry(3, '!', 0)] };
/** `token` with its one entry patched, as an untyped wire value. */
const tweakEntry = (patch: Record<string, unknown>): string => JSON.stringify({ ...token, tokens: [{ ...token.tokens[0], ...patch }] });
/** A `tokens` message of `count` consecutive entries. */
const batchOf = (count: number, alternatives = 0) => ({ ...token, tokens: Array.from({ length: count }, (_, i) => entry(i, 't', alternatives)) });

const fromTab: TabToCoordinator[] = [
  hello,
  { ...hello, backend: 'wasm', adapter: null, limits: null, models: [] },
  { ...hello, payoutAccount: 'acct_0123456789abcdef' },
  { type: 'models', models: ['dolphin-tiny', 'dolphin-small'] },
  token,
  batch,
  { type: 'done', jobId: 'chatcmpl-1', finishReason: 'length', text: 'tail', promptTokens: 12, completionTokens: 16, signature: 'a-_'.repeat(28) + 'zz' },
  { type: 'failed', jobId: 'chatcmpl-1', code: 'context_length_exceeded', message: 'the prompt fills the context' },
  { type: 'loading', jobId: 'chatcmpl-1', model: 'dolphin-small', loadedBytes: 1_000_000, totalBytes: 40_346_911 },
  { type: 'webrtc', state: 'listening' },
  { type: 'webrtc', state: 'unavailable', reason: 'no WebRTC here' },
];

const task: Extract<CoordinatorToTab, { type: 'task' }> = {
  type: 'task',
  jobId: 'chatcmpl-1',
  model: 'dolphin-tiny',
  messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
  params,
};
const fromCoordinator: CoordinatorToTab[] = [
  { type: 'welcome', tabId: 'tab-1', challenge: 'c'.repeat(43) },
  { type: 'accepted', contributorId: '0123456789abcdef0123456789abcdef01234567', webrtc: null },
  {
    type: 'accepted',
    contributorId: '0123456789abcdef0123456789abcdef01234567',
    webrtc: { peerId: 't0123abcd', token: '0123456789abcdef0123', coordinatorPeerId: 'dolphin-coordinator', path: '/peerjs', key: 'dolphin', iceServers: [{ urls: 'stun:stun.example.org:3478' }, { urls: ['turn:t.example.org'], username: 'u', credential: 'c' }] },
  },
  task,
  { type: 'cancel', jobId: 'chatcmpl-1' },
  { type: 'error', code: 'invalid_message', message: 'bad' },
];

/** `base` with `patch` applied, as an untyped wire value (so invalid messages can be written). */
const tweak = (base: object, patch: Record<string, unknown>): string => JSON.stringify({ ...base, ...patch });

describe('parseTabMessage', () => {
  it.each(fromTab.map((message) => [message.type, message] as const))('round-trips %s', (_type, message) => {
    expect(parseTabMessage(JSON.stringify(message))).toEqual({ ok: true, message });
  });

  it('does not accept messages that only the coordinator sends', () => {
    for (const message of fromCoordinator) expect(parseTabMessage(JSON.stringify(message)).ok).toBe(false);
  });

  const invalid: Array<[string, string]> = [
    ['an unknown type', JSON.stringify({ type: 'teleport' })],
    ['a missing type', JSON.stringify({ jobId: 'j' })],
    ['another protocol version', tweak(hello, { protocol: TAB_PROTOCOL_VERSION + 1 })],
    ['an unknown backend', tweak(hello, { backend: 'cuda' })],
    ['a payout account that is no account id', tweak(hello, { payoutAccount: 'requester:acct_1' })],
    ['more than 64 models', tweak(hello, { models: Array.from({ length: 65 }, (_, i) => `m${i}`) })],
    ['an empty model id', tweak({ type: 'models' }, { models: [''] })],
    ['a loading report with negative bytes', JSON.stringify({ type: 'loading', jobId: 'j', model: 'dolphin-small', loadedBytes: -1, totalBytes: 10 })],
    ['a loading report without its model', JSON.stringify({ type: 'loading', jobId: 'j', loadedBytes: 1, totalBytes: 10 })],
    ['an over-long adapter description', tweak(hello, { adapter: { ...hello.adapter, description: 'd'.repeat(501) } })],
    ['a tokens message with no entries', tweak(token, { tokens: [] })],
    [`a tokens message with more than MAX_TOKENS_PER_MESSAGE (${MAX_TOKENS_PER_MESSAGE}) entries`, JSON.stringify(batchOf(MAX_TOKENS_PER_MESSAGE + 1))],
    ['a tokens message whose tokens are not a list', tweak(token, { tokens: entry(0) })],
    ['a token entry with more than 20 alternatives', tweakEntry({ top: Array.from({ length: 21 }, (_, i) => candidate(i, 't')) })],
    ['a batch with one entry of more than 20 alternatives', tweak(batch, { tokens: [entry(1), entry(2, 't', 21), entry(3)] })],
    ['a negative token index', tweakEntry({ index: -1 })],
    ['a fractional token index', tweakEntry({ index: 0.5 })],
    ['a token index that is a string', tweakEntry({ index: '0' })],
    ['a token entry without text', tweakEntry({ text: undefined })],
    ['a token entry without its own candidate', tweakEntry({ token: undefined })],
    ['a token entry without alternatives', tweakEntry({ top: undefined })],
    ['a candidate with a fractional id', tweakEntry({ token: { ...candidate(5, 'Hi'), id: 1.5 } })],
    ['a candidate without a logprob', tweakEntry({ token: { ...candidate(5, 'Hi'), logprob: undefined } })],
    ['a batch with one malformed entry', tweak(batch, { tokens: [entry(1), { ...entry(2), text: 7 }] })],
    ['the old one-token-per-message shape', JSON.stringify({ type: 'token', jobId: 'chatcmpl-1', ...entry(0, 'Hi') })],
    ['a tokens message with its entry inlined', JSON.stringify({ type: 'tokens', jobId: 'chatcmpl-1', ...entry(0, 'Hi') })],
    ['an empty job id', tweak(token, { jobId: '' })],
    ['a job id over 128 characters', tweak(token, { jobId: 'j'.repeat(129) })],
    ['an unknown finish reason', JSON.stringify({ type: 'done', jobId: 'j', finishReason: 'tool_calls', text: '', promptTokens: 1, completionTokens: 1, signature: 'S'.repeat(86) })],
    ['a done without a signature', JSON.stringify({ type: 'done', jobId: 'j', finishReason: 'stop', text: '', promptTokens: 1, completionTokens: 1 })],
    ['a signature of the wrong length', JSON.stringify({ type: 'done', jobId: 'j', finishReason: 'stop', text: '', promptTokens: 1, completionTokens: 1, signature: 'S'.repeat(85) })],
    ['a signature that is not base64url', JSON.stringify({ type: 'done', jobId: 'j', finishReason: 'stop', text: '', promptTokens: 1, completionTokens: 1, signature: '+'.repeat(86) })],
    ['a hello without an identity', tweak(hello, { identity: undefined })],
    ['a hello with a short public key', tweak(hello, { identity: { publicKey: 'P'.repeat(42), signature: 'S'.repeat(86) } })],
    ['a failure code outside TASK_FAILURE_CODES', JSON.stringify({ type: 'failed', jobId: 'j', code: 'c', message: 'm' })],
    ['a failure message over 2000 characters', JSON.stringify({ type: 'failed', jobId: 'j', code: 'worker_error', message: 'm'.repeat(2001) })],
    ['a JSON array', '[]'],
    ['JSON null', 'null'],
  ];

  it.each(invalid)('rejects %s', (_name, raw) => {
    const result = parseTabMessage(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.length).toBeGreaterThan(0);
  });

  it('accepts exactly 20 alternatives', () => {
    expect(parseTabMessage(tweakEntry({ top: Array.from({ length: 20 }, (_, i) => candidate(i, 't')) })).ok).toBe(true);
  });

  it(`accepts exactly MAX_TOKENS_PER_MESSAGE (${MAX_TOKENS_PER_MESSAGE}) entries`, () => {
    const full = batchOf(MAX_TOKENS_PER_MESSAGE);
    expect(parseTabMessage(JSON.stringify(full))).toEqual({ ok: true, message: full });
  });

  // The schema checks order only by type: that indices continue the job's stream is the job board's business.
  it('leaves the order of indices to the job board', () => {
    expect(parseTabMessage(tweak(batch, { tokens: [entry(3), entry(1), entry(1)] })).ok).toBe(true);
  });

  it('fits a full batch of short tokens, with 20 alternatives each, in one message', () => {
    const full = batchOf(MAX_TOKENS_PER_MESSAGE, 20);
    const json = JSON.stringify(full);
    expect(json.length).toBeLessThanOrEqual(MAX_TAB_MESSAGE_CHARS);
    expect(parseTabMessage(json)).toEqual({ ok: true, message: full });
  });

  it('accepts a failure message of exactly 2000 characters', () => {
    expect(parseTabMessage(JSON.stringify({ type: 'failed', jobId: 'j', code: 'worker_error', message: 'm'.repeat(2000) })).ok).toBe(true);
  });

  it('rejects text that is not JSON', () => {
    expect(parseTabMessage('{"type": "hello"')).toEqual({ ok: false, error: 'message is not valid JSON' });
  });

  it.each([
    ['a Uint8Array', new TextEncoder().encode(JSON.stringify(hello))],
    ['an ArrayBuffer', new TextEncoder().encode(JSON.stringify(hello)).buffer],
    ['a parsed object', hello],
    ['a number', 1],
    ['undefined', undefined],
  ])('rejects %s: only text frames are messages', (_name, raw) => {
    expect(parseTabMessage(raw)).toEqual({ ok: false, error: 'expected a text frame' });
  });

  it(`accepts a message of exactly ${MAX_TAB_MESSAGE_CHARS} characters and rejects one more`, () => {
    const json = JSON.stringify(hello);
    const atLimit = json + ' '.repeat(MAX_TAB_MESSAGE_CHARS - json.length);
    expect(atLimit).toHaveLength(MAX_TAB_MESSAGE_CHARS);
    expect(parseTabMessage(atLimit)).toEqual({ ok: true, message: hello });
    const result = parseTabMessage(`${atLimit} `);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(String(MAX_TAB_MESSAGE_CHARS));
  });
});

describe('parseCoordinatorMessage', () => {
  it.each(fromCoordinator.map((message) => [message.type, message] as const))('round-trips %s', (_type, message) => {
    expect(parseCoordinatorMessage(JSON.stringify(message))).toEqual({ ok: true, message });
  });

  it('does not accept messages that only a tab sends', () => {
    for (const message of fromTab) expect(parseCoordinatorMessage(JSON.stringify(message)).ok).toBe(false);
  });

  const invalidParams: Array<[string, Partial<Record<keyof SamplingParams, unknown>>]> = [
    ['maxTokens 0', { maxTokens: 0 }],
    ['a negative temperature', { temperature: -0.1 }],
    ['topP 0', { topP: 0 }],
    ['topP above 1', { topP: 1.01 }],
    ['a fractional topK', { topK: 1.5 }],
    ['5 stop sequences', { stop: ['a', 'b', 'c', 'd', 'e'] }],
    ['an empty stop sequence', { stop: [''] }],
    ['a negative seed', { seed: -1 }],
    ['a seed above MAX_SAFE_INTEGER', { seed: Number.MAX_SAFE_INTEGER + 2 }],
    ['topLogprobs above 20', { topLogprobs: 21 }],
  ];

  it.each(invalidParams)('rejects a task with %s', (_name, patch) => {
    expect(parseCoordinatorMessage(tweak(task, { params: { ...params, ...patch } })).ok).toBe(false);
  });

  it.each([
    ['no messages', tweak(task, { messages: [] })],
    ['a message with an unknown role', tweak(task, { messages: [{ role: 'tool', content: 'x' }] })],
    ['content parts instead of plain text', tweak(task, { messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] })],
    ['an empty tab id', JSON.stringify({ type: 'welcome', tabId: '' })],
    ['a cancel without a job id', JSON.stringify({ type: 'cancel' })],
  ])('rejects %s', (_name, raw) => {
    expect(parseCoordinatorMessage(raw).ok).toBe(false);
  });

  it('applies the same frame checks as parseTabMessage', () => {
    expect(parseCoordinatorMessage('not json')).toEqual({ ok: false, error: 'message is not valid JSON' });
    expect(parseCoordinatorMessage(new ArrayBuffer(4))).toEqual({ ok: false, error: 'expected a text frame' });
    expect(parseCoordinatorMessage(' '.repeat(MAX_TAB_MESSAGE_CHARS + 1)).ok).toBe(false);
  });
});

describe('failed codes', () => {
  const failed = (code: string) => JSON.stringify({ type: 'failed', jobId: 'j1', code, message: 'm' });
  it('are exactly the codes a tab may report', () => {
    expect(TASK_FAILURE_CODES).toEqual(['cancelled', 'context_length_exceeded', 'model_not_loaded', 'worker_error']);
  });
  it.each(TASK_FAILURE_CODES)('accepts the tab code %s', (code) => {
    expect(parseTabMessage(failed(code)).ok).toBe(true);
  });
  it.each(['client_closed_request', 'tab_timeout', 'protocol_error', 'tab_disconnected', 'oom'])('refuses %s, which a tab cannot claim', (code) => {
    expect(parseTabMessage(failed(code)).ok).toBe(false);
  });
});
