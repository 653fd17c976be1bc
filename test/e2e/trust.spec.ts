/**
 * Trust end to end (issue #4): real tabs (WASM and WebGPU) serve jobs on the real coordinator, which audits them —
 * the verifier tab gets the transcript from the worker over the mesh, re-scores it on its own backend and sends a
 * signed verdict. Honest tabs are never convicted; each cheating mode is; a verifier that approves everything is
 * caught by planted known-bad transcripts, and verifiers that reject everything by planted known-good ones. Runs on the trust coordinator (playwright.config.ts: the test-hooks build, where
 * `?cheat=` exists, the cheaters' models, planting at 0.3).
 */
import { test, expect, type APIRequestContext } from '@playwright/test';
import { openContributorTab, type ContributorTab } from '../support/contributor-tab.ts';
import { TRUST_PORT } from '../../playwright.config.ts';
import type { ContributorTrust, JobAudit } from '../../src/protocol/audits.ts';
import { VERIFICATION_TOLERANCES } from '../../coordinator/trust/tolerances.ts';
import { readdir, readFile } from 'node:fs/promises';
import { newAccount } from '../support/account.ts';
import OpenAI from 'openai';
import type { AccountView, ContributorView, LedgerEntryView, NewKeyView, Page, UsageView } from '../../src/protocol/accounts.ts';
import type { ErrorBody } from '../../src/protocol/api.ts';
import { join } from 'node:path';

const BASE = `http://127.0.0.1:${TRUST_PORT}`;
const MODEL = 'dolphin-tiny';
let honest: ContributorTab[] = [];
let apiKey = '';
/** The spec's requester: every job of serveRound is billed to it. */
let auth: Record<string, string> = {};

test.describe.configure({ mode: 'serial' });
test.use({ baseURL: BASE });

type StatsWindow = { dolphin: { link(): { auditStats: { mesh: number; inline: number; verdicts: number; failed: number } } | null } };
const auditStats = (t: ContributorTab) => t.page.evaluate(() => (window as unknown as StatsWindow).dolphin.link()?.auditStats ?? null);

test.beforeAll(async ({ browser }) => {
  apiKey = (await newAccount(BASE)).apiKey;
  auth = { authorization: `Bearer ${apiKey}` };
  honest = await Promise.all([openContributorTab(browser, 'wasm', { baseURL: BASE }), openContributorTab(browser, 'webgpu', { baseURL: BASE })]);
});
test.afterAll(async () => {
  await Promise.all(honest.map((t) => t.close()));
});

interface Served {
  jobId: string;
  tabId: string;
  contributorId: string;
}

let seed = 1000;
/**
 * `count` requests at once, so each idle tab takes one; which tab (and identity) served each. `greedy` mixes in
 * temperature-0 requests (every third), where the seed does not matter.
 */
async function serveRound(request: APIRequestContext, count: number, greedy = true): Promise<Served[]> {
  const network = (await (await request.get('/api/network')).json()) as { tabs: Array<{ id: string; contributorId: string | null }> };
  const contributorOf = new Map(network.tabs.map((t) => [t.id, t.contributorId ?? '']));
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const response = await request.post('/v1/chat/completions', {
        headers: auth,
        data: { model: MODEL, messages: [{ role: 'user', content: `Tell me about the reef, part ${i}.` }], max_tokens: 16, temperature: greedy && i % 3 === 2 ? 0 : 0.8, top_p: 0.95, seed: seed++ },
      });
      expect(response.status(), await response.text()).toBe(200);
      const tabId = response.headers()['x-dolphin-tab'] ?? '';
      return { jobId: ((await response.json()) as { id: string }).id, tabId, contributorId: contributorOf.get(tabId) ?? '' };
    }),
  );
}

/** The job's audit once decided (audits run after the requester got its answer). */
async function decided(request: APIRequestContext, jobId: string): Promise<JobAudit> {
  let audit: JobAudit | null = null;
  await expect
    .poll(async () => {
      const response = await request.get(`/api/audits/jobs/${jobId}`);
      audit = response.ok() ? ((await response.json()) as JobAudit) : null;
      return audit?.status ?? 'not audited yet';
    }, { timeout: 90_000, intervals: [250, 500, 1000] })
    .toMatch(/passed|convicted|unverified/);
  return audit as unknown as JobAudit;
}

const trustOf = async (request: APIRequestContext, contributorId: string) => (await (await request.get(`/api/contributors/${contributorId}`)).json()) as ContributorTrust;
const contributorOf = async (request: APIRequestContext, contributorId: string) => (await (await request.get(`/api/contributors/${contributorId}`)).json()) as ContributorView;
const honestIds = async () => Promise.all(honest.map((t) => t.page.getByTestId('contributor-id').innerText()));

test('the production build has no cheating code; only the test-hooks build does', async () => {
  const bundle = async (dir: string) => {
    const files = (await readdir(join(dir, 'assets'))).filter((f) => f.endsWith('.js'));
    return (await Promise.all(files.map((f) => readFile(join(dir, 'assets', f), 'utf8')))).join('\n');
  };
  const [production, testHooks] = await Promise.all([bundle('dist'), bundle('dist-test')]);
  for (const mode of ['tampered-logprobs', 'approve-everything', 'reject-everything', 'random-tokens', '-imposter']) {
    expect(production.includes(mode), `dist/ mentions ${mode}`).toBe(false);
    expect(testHooks.includes(mode), `dist-test/ lacks ${mode}`).toBe(true);
  }
});

test('honest WASM and WebGPU tabs audit each other over the mesh and are never convicted', async ({ request }) => {
  const served: Served[] = [];
  for (let round = 0; round < 4; round++) served.push(...(await serveRound(request, 2)));
  for (const job of served) {
    const audit = await decided(request, job.jobId); // every job of a new identity is audited
    expect(audit.status, JSON.stringify(audit)).toBe('passed');
    expect(audit.contributorId).toBe(job.contributorId);
    const [verdict] = audit.verdicts;
    expect(verdict?.verifier).not.toBe(job.contributorId);
    expect(verdict?.signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(verdict?.verdict.maxLogprobDeviation).toBeLessThanOrEqual(VERIFICATION_TOLERANCES.tau);
  }
  const backends = new Set(served.map((s) => s.tabId));
  expect(backends.size).toBe(2);
  for (const tab of honest) expect((await auditStats(tab))?.mesh, `${tab.backend} tab got transcripts over the mesh`).toBeGreaterThan(0);
});

/** Prices of the trust coordinator (test/e2e/prices.json), µDPHN per 1K tokens, read here to check the bills. */
async function pricesOf(model: string): Promise<{ prompt: number; completion: number }> {
  const table = JSON.parse(await readFile('test/e2e/prices.json', 'utf8')) as { default: { prompt: number; completion: number }; models: Record<string, { prompt: number; completion: number }> };
  const p = table.models[model] ?? table.default;
  return { prompt: Math.round(p.prompt * 1e6), completion: Math.round(p.completion * 1e6) };
}

test('a requester is charged exactly the tokens served; the reward goes pending and matures when the audit passes', async ({ request }) => {
  const { apiKey: key, account } = await newAccount(BASE, 'charged');
  const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: key, maxRetries: 0 });
  const { data: stream, response } = await client.chat.completions
    .create({ model: MODEL, messages: [{ role: 'user', content: 'What lives on the reef?' }], max_tokens: 24, temperature: 0.8, seed: 77, stream: true, stream_options: { include_usage: true } })
    .withResponse();
  let usage: { prompt_tokens: number; completion_tokens: number } | null = null;
  let jobId = '';
  for await (const chunk of stream) {
    jobId = chunk.id;
    if (chunk.usage) usage = chunk.usage;
  }
  expect(usage).not.toBeNull();
  const { prompt_tokens: prompt, completion_tokens: completion } = usage as unknown as { prompt_tokens: number; completion_tokens: number };
  const price = await pricesOf(MODEL);
  const charge = Math.ceil((prompt * price.prompt + completion * price.completion) / 1000);
  const reward = Math.floor((charge * 8) / 10); // CONTRIBUTOR_SHARE 0.8
  const headers = { authorization: `Bearer ${key}` };
  await expect.poll(async () => ((await (await request.get('/api/account', { headers })).json()) as AccountView).balance.micros).toBe(account.balance.micros - charge);
  const usageEntries = (await (await request.get('/api/account/usage', { headers })).json()) as Page<UsageView>;
  expect(usageEntries.data[0]).toMatchObject({ job_id: jobId, status: 'settled', charged: { micros: charge }, prompt_tokens: prompt, completion_tokens: completion });
  // The contributor's reward went pending with the job...
  const network = (await (await request.get('/api/network')).json()) as { tabs: Array<{ id: string; contributorId: string | null }> };
  const worker = network.tabs.find((t) => t.id === response.headers.get('x-dolphin-tab'))?.contributorId ?? '';
  const pending = (await (await request.get(`/api/contributors/${worker}/history?bucket=pending&limit=100`)).json()) as Page<LedgerEntryView>;
  expect(pending.data.find((h) => h.kind === 'settle' && h.memo?.startsWith(jobId))?.amount.micros).toBe(reward);
  // ...and matures when its audit passes (every job of a new identity is audited).
  expect((await decided(request, jobId)).status).toBe('passed');
  await expect
    .poll(async () => ((await (await request.get(`/api/contributors/${worker}/history?bucket=available&limit=100`)).json()) as Page<LedgerEntryView>).data.find((h) => h.kind === 'mature' && h.memo === jobId)?.amount.micros)
    .toBe(reward);
});

test('a key without the balance for a request gets 402, and a revoked key gets 401', async ({ request }) => {
  const { apiKey: key, account } = await newAccount(BASE, 'short');
  const headers = { authorization: `Bearer ${key}` };
  // dolphin-tiny-imposter costs 100 DPHN per 1K tokens here: its full context is far beyond a new account's credits.
  const expensive = await request.post('/v1/chat/completions', { headers, data: { model: 'dolphin-tiny-imposter', messages: [{ role: 'user', content: 'hello' }] } });
  expect(expensive.status()).toBe(402);
  expect(((await expensive.json()) as ErrorBody).error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_balance' });
  expect(((await (await request.get('/api/account', { headers })).json()) as AccountView).balance.micros).toBe(account.balance.micros);

  const second = (await (await request.post('/api/account/keys', { headers, data: { name: 'to revoke' } })).json()) as NewKeyView;
  const withSecond = { authorization: `Bearer ${second.key}` };
  expect((await request.get('/v1/models', { headers: withSecond })).status()).toBe(200);
  expect((await request.delete(`/api/account/keys/${second.id}`, { headers })).status()).toBe(200);
  const revoked = await request.post('/v1/chat/completions', { headers: withSecond, data: { model: MODEL, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 } });
  expect(revoked.status()).toBe(401);
  expect(((await revoked.json()) as ErrorBody).error.code).toBe('invalid_api_key');
  expect((await request.get('/v1/models', { headers })).status()).toBe(200); // the account's other key still works
});

const CHEATS = ['other-model', 'rounded-weights', 'random-tokens', 'false-stop', 'other-seed', 'tampered-logprobs', 'replay'] as const;

for (const cheat of CHEATS) {
  test(`a tab cheating by ${cheat} is convicted, slashed, and its requester refunded`, async ({ browser, request }) => {
    const cheater = await openContributorTab(browser, 'wasm', { baseURL: BASE, cheat });
    try {
      const cheaterId = await cheater.page.getByTestId('contributor-id').innerText();
      // The starter stake lets a new identity serve on probation (every job audited).
      await expect.poll(async () => (await contributorOf(request, cheaterId)).dphn.staked.micros).toBeGreaterThan(0);
      // A replaying tab answers its first job honestly (there is nothing to replay yet). Every request samples
      // (temperature 0.8): at temperature 0 the seed plays no part, so "another seed" would be honest output.
      const honestFirst = cheat === 'replay' ? 1 : 0;
      const jobs: Served[] = [];
      for (let round = 0; round < 8 && jobs.length < honestFirst + 1; round++) jobs.push(...(await serveRound(request, 3, false)).filter((s) => s.contributorId === cheaterId));
      expect(jobs.length).toBeGreaterThanOrEqual(honestFirst + 1);
      for (const [i, job] of jobs.entries()) {
        const audit = await decided(request, job.jobId);
        expect(audit.status, `${cheat} job ${i}: ${JSON.stringify(audit.verdicts.map((v) => v.verdict))}`).toBe(i < honestFirst ? 'passed' : 'convicted');
      }
      const convicted = jobs.slice(honestFirst);
      const record = await contributorOf(request, cheaterId);
      expect(record.worker.convicted).toBe(convicted.length);
      // Slashed: no stake, no pending rewards left; the stake went to the convicting verifiers and the treasury.
      await expect.poll(async () => (await contributorOf(request, cheaterId)).dphn.staked.micros).toBe(0);
      expect((await contributorOf(request, cheaterId)).dphn.pending.micros).toBe(0);
      const usage = (await (await request.get('/api/account/usage?limit=100', { headers: auth })).json()) as Page<UsageView>;
      for (const job of convicted) expect(usage.data.find((u) => u.job_id === job.jobId)?.status).toBe('convicted');
      const history = (await (await request.get('/api/account/history?limit=100', { headers: auth })).json()) as Page<LedgerEntryView>;
      for (const job of convicted) expect(history.data.some((h) => h.kind === 'refund' && h.memo === `job ${job.jobId} was convicted`)).toBe(true);
      // The whole stake was slashed (the convicting verifiers' share, or all of it, to the treasury).
      const staked = (await (await request.get(`/api/contributors/${cheaterId}/history?bucket=staked&limit=100`)).json()) as Page<LedgerEntryView>;
      expect(staked.data.find((h) => h.kind === 'slash')?.amount.micros).toBeLessThan(0);
      // Without stake it is given no more work.
      const after = await serveRound(request, 3, false);
      expect(after.filter((s) => s.contributorId === cheaterId)).toEqual([]);
    } finally {
      await cheater.close();
    }
    for (const id of await honestIds()) expect((await trustOf(request, id)).worker.convicted, 'an honest tab was convicted').toBe(0);
  });
}

test('a verifier that approves everything is caught by a planted transcript and gets no more audits', async ({ browser, request }) => {
  // On WebGPU (SwiftShader), the slowest tab by its calibration: it takes a job only when the others are busy, so it
  // is free to verify most of the time (a fast new tab would be kept busy serving and rarely get an audit).
  const lazy = await openContributorTab(browser, 'webgpu', { baseURL: BASE, cheat: 'approve-everything' });
  try {
    const lazyId = await lazy.page.getByTestId('contributor-id').innerText();
    let trust: ContributorTrust | null = null;
    for (let round = 0; round < 30; round++) {
      await serveRound(request, 3);
      trust = await trustOf(request, lazyId).catch(() => null);
      if (trust?.verifier.plantedApproved) break;
    }
    expect(trust?.verifier).toMatchObject({ trusted: false });
    expect(trust?.verifier.plantedApproved).toBeGreaterThanOrEqual(1);
    const verdictsWhenCaught = (await auditStats(lazy))?.verdicts ?? 0;
    for (let round = 0; round < 3; round++) await serveRound(request, 3);
    // Audits already under way may still land; no new ones are given.
    await expect.poll(async () => (await auditStats(lazy))?.verdicts ?? 0, { timeout: 5_000 }).toBeLessThanOrEqual(verdictsWhenCaught + 1);
  } finally {
    await lazy.close();
  }
  const summary = (await (await request.get('/api/audits')).json()) as { planted: { rejected: number; approved: number } };
  expect(summary.planted.rejected).toBeGreaterThan(0); // honest verifiers reject planted transcripts
});

test('two verifiers that reject everything are caught by planted known-good transcripts and convict no honest tab', async ({ browser, request }) => {
  // Slow WebGPU tabs, like the lazy verifier above: free to verify most of the time. Together they could once
  // convict any job they were both given.
  const harsh = await Promise.all([0, 1].map(() => openContributorTab(browser, 'webgpu', { baseURL: BASE, cheat: 'reject-everything' })));
  try {
    const harshIds = await Promise.all(harsh.map((t) => t.page.getByTestId('contributor-id').innerText()));
    let records: Array<ContributorTrust | null> = [];
    for (let round = 0; round < 30; round++) {
      await serveRound(request, 3);
      records = await Promise.all(harshIds.map((id) => trustOf(request, id).catch(() => null)));
      if (records.every((r) => r?.verifier.goodRejected)) break;
    }
    for (const record of records) {
      expect(record?.verifier).toMatchObject({ trusted: false });
      expect(record?.verifier.goodRejected).toBeGreaterThanOrEqual(1);
    }
    const verdictsWhenCaught = await Promise.all(harsh.map(async (t) => (await auditStats(t))?.verdicts ?? 0));
    for (let round = 0; round < 3; round++) await serveRound(request, 3);
    // Audits already under way may still land; no new ones are given.
    for (const [i, t] of harsh.entries()) await expect.poll(async () => (await auditStats(t))?.verdicts ?? 0, { timeout: 5_000 }).toBeLessThanOrEqual((verdictsWhenCaught[i] ?? 0) + 1);
  } finally {
    await Promise.all(harsh.map((t) => t.close()));
  }
  for (const id of await honestIds()) expect((await trustOf(request, id)).worker.convicted, 'an honest tab was convicted').toBe(0);
  const summary = (await (await request.get('/api/audits')).json()) as { plantedGood: { approved: number; rejected: number } };
  expect(summary.plantedGood.approved).toBeGreaterThan(0); // honest verifiers approve planted known-good transcripts
  expect(summary.plantedGood.rejected).toBeGreaterThanOrEqual(2);
});
