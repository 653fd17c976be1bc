/**
 * /v1/batches through the real app: the batch runs each request through /v1/chat/completions as its owner. With no
 * tab serving the model every request fails with the API's own 503, in order (the e2e runs batches on real tabs).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEMO_API_KEY } from '../../src/protocol/accounts.ts';
import type { BatchView } from '../../src/protocol/batches.ts';
import { testEconomy } from '../../test/unit/economy.ts';
import { expectError, testApp, withKey, writeTestModels, type TestModels } from '../../test/unit/test-app.ts';

let fixture: TestModels;
let economy: Awaited<ReturnType<typeof testEconomy>>;
beforeAll(async () => {
  fixture = await writeTestModels('dolphin-batches-', { 'tiny-a': { contextLength: 96 } });
  economy = await testEconomy({ catalogue: fixture.catalogue });
});
afterAll(() => fixture.remove());

function app(key = economy.apiKey) {
  const { app: server } = testApp({ models: fixture, economy: economy.wiring.deps, randomSeed: () => 1 });
  return (path: string, init: RequestInit = {}) => server.request(path, withKey({ headers: { 'Content-Type': 'application/json' }, ...init }, key));
}
const chat = (content: string, model = 'tiny-a') => ({ model, messages: [{ role: 'user', content }] });

describe('/v1/batches', () => {
  it('runs every request through the completions API and keeps each outcome in its place', async () => {
    const call = app();
    const created = await call('/v1/batches', { method: 'POST', body: JSON.stringify({ requests: [chat('a'), chat('b', 'no-such-model'), { model: 'tiny-a' }], metadata: { run: '1' } }) });
    expect(created.status).toBe(200);
    const batch = (await created.json()) as BatchView;
    expect(batch).toMatchObject({ object: 'batch', metadata: { run: '1' }, request_counts: { total: 3 } });
    let view = batch;
    await vi.waitFor(async () => {
      view = (await (await call(`/v1/batches/${batch.id}`)).json()) as BatchView;
      expect(view.status).toBe('completed');
    });
    expect(view.results.map((r) => [r.index, r.status, r.error?.code])).toEqual([
      [0, 'failed', 'no_capacity'],
      [1, 'failed', 'model_not_found'],
      [2, 'failed', 'missing_required_parameter'],
    ]);
    expect(view.request_counts).toEqual({ total: 3, completed: 0, failed: 3 });
  });

  it('refuses the demo key, a body that is not a batch, and another account’s batch', async () => {
    await expectError(await app(DEMO_API_KEY)('/v1/batches', { method: 'POST', body: JSON.stringify({ requests: [chat('a')] }) }), 403, { type: 'permission_error', param: null, code: 'demo_key' });
    await expectError(await app()('/v1/batches', { method: 'POST', body: JSON.stringify({ requests: [] }) }), 400, { type: 'invalid_request_error', param: 'requests', code: 'invalid_value' });
    await expectError(await app()('/v1/batches/batch_nope'), 404, { type: 'invalid_request_error', param: 'batch_id', code: 'batch_not_found' });
    await expectError(await app()('/v1/batches/batch_nope/cancel', { method: 'POST' }), 404, { type: 'invalid_request_error', param: 'batch_id', code: 'batch_not_found' });
  });
});
