/**
 * The demo chat page (issue #7): a real contributor tab answers through the network and the page shows who served
 * the answer, its speed, its cost (checked against the contributor's reward in the ledger), its seed and its audit;
 * Stop ends a long answer mid-stream. With no tab online, "Run on my own GPU" answers in the page's own worker.
 * Every answer is compared with the Node reference at the same seed.
 */
import { test, expect, type Page } from '@playwright/test';
import { openContributorTab } from '../support/contributor-tab.ts';
import { loadNodeModel } from '../support/node-model.ts';
import { savePageShot } from '../support/page-shot.ts';
import { runChatTask, type LoadedModel } from '../../worker/runtime.ts';
import type { PlainMessage } from '../../src/protocol/api.ts';
import type { ContributorView, EconomyView } from '../../src/protocol/accounts.ts';

const MODEL = 'dolphin-tiny';
let reference: LoadedModel;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  reference = await loadNodeModel(MODEL);
});

test.afterAll(async () => {
  await reference?.engine.dispose();
});

async function referenceRun(messages: PlainMessage[], params: { maxTokens: number; temperature: number; seed: number }) {
  return runChatTask(reference, { messages, params: { ...params, topP: 1, topK: 0, stop: [], topLogprobs: 0 } }, () => {});
}

/** Sets the chat's controls as a visitor would and sends `message`; returns the answer's list item. */
async function ask(page: Page, message: string, settings: { temperature: number; maxTokens: number; seed: number }) {
  await page.getByLabel('Temperature').fill(String(settings.temperature));
  await page.getByLabel('Max tokens').fill(String(settings.maxTokens));
  await page.getByLabel(/^Seed/).fill(String(settings.seed));
  await page.getByLabel('Message').fill(message);
  await page.getByRole('button', { name: 'Send' }).click();
  return page.getByTestId('turn-assistant').last();
}

/** The answer's text exactly (innerText would fold whitespace; the test model's text has control characters). */
const textOf = (answer: ReturnType<Page['getByTestId']>) => answer.getByTestId('turn-text').evaluate((e) => e.textContent ?? '');

/** Asks `question` with `settings`: the finished answer, without an error, is the Node reference's text at that seed. */
async function answersAsTheReference(page: Page, question: string, settings: { temperature: number; maxTokens: number; seed: number }) {
  const expected = await referenceRun([{ role: 'user', content: question }], settings);
  expect(expected.completionTokens).toBeGreaterThan(2);
  const answer = await ask(page, question, settings);
  await expect(answer).toHaveAttribute('data-live', 'false');
  await expect(answer.getByRole('alert')).toHaveCount(0);
  expect(await textOf(answer)).toBe(expected.text);
  return { answer, expected };
}

/** Asks for a long story after `before` (temperature 0, seed 1), stops it once text shows: what was shown is the
 * start of the whole answer, marked stopped, with no error. */
async function stopsALongAnswer(page: Page, before: PlainMessage[], maxTokens: number): Promise<void> {
  const story = 'Tell me a long story';
  const long = { temperature: 0, maxTokens, seed: 1 };
  const full = await referenceRun([...before, { role: 'user', content: story }], long);
  expect(full.completionTokens).toBeGreaterThan(200);
  const stopped = await ask(page, story, long);
  await expect(stopped.getByTestId('turn-text')).not.toBeEmpty();
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(stopped).toHaveAttribute('data-live', 'false');
  await expect(stopped.getByTestId('stopped')).toBeVisible();
  await expect(stopped.getByRole('alert')).toHaveCount(0);
  const partial = await textOf(stopped);
  expect(partial.length).toBeGreaterThan(0);
  expect(partial.length).toBeLessThan(full.text.length);
  expect(full.text.startsWith(partial)).toBe(true);
}

test('a network answer shows its contributor, backend, speed, cost, seed and audit; Stop ends a long answer', async ({ browser, page, request }, testInfo) => {
  const tab = await openContributorTab(browser, 'wasm');
  try {
    const contributorId = (await tab.page.getByTestId('contributor-id').innerText()).trim();
    const tabId = /as (tab-\d+)/.exec(await tab.page.getByTestId('status').innerText())?.[1];
    expect(contributorId).toMatch(/^[0-9a-f]{40}$/);
    await page.goto('/chat');

    const question = 'Hello, Dolphin! Как дела?';
    const settings = { temperature: 0, maxTokens: 16, seed: 7 };
    const { answer, expected } = await answersAsTheReference(page, question, settings);
    await expect(answer.getByTestId('answer-contributor')).toHaveAttribute('data-contributor', contributorId);
    await expect(answer.getByTestId('answer-source')).toContainText(`contributor ${contributorId.slice(0, 10)}… (${tabId})`);
    await expect(answer.getByTestId('answer-backend')).toHaveText('wasm');
    await expect(answer.getByTestId('answer-seed')).toHaveText('7');
    const speed = Number(await answer.getByTestId('answer-speed').getAttribute('data-tokens-per-second'));
    expect(speed).toBeGreaterThan(0);
    await expect(answer.getByTestId('answer-speed')).toContainText(`${speed.toFixed(1)} tokens/s`);
    await expect(answer.getByTestId('answer-cost')).toContainText(`${expected.promptTokens} prompt + ${expected.completionTokens} completion tokens`);

    // The cost shown is what the ledger charged: the contributor's pending reward is its share of that charge.
    const charge = Number(await answer.getByTestId('answer-cost').getAttribute('data-micros'));
    expect(charge).toBeGreaterThan(0);
    await expect(answer.getByTestId('answer-cost')).toContainText(`${charge / 1e6} DPHN`);
    const economy = ((await (await request.get('/api/network')).json()) as { dphn: EconomyView }).dphn;
    const sharePpm = Math.round(economy.contributor_share * 1e6);
    await expect.poll(async () => ((await (await request.get(`/api/contributors/${contributorId}`)).json()) as ContributorView).dphn.pending.micros).toBe(Math.floor((charge * sharePpm) / 1e6));

    // The audit status is what the audit API says of the answer's job (one identity online: no verifier, so undecided).
    const jobId = (await answer.getByTestId('answer-facts').getAttribute('data-job-id')) ?? '';
    expect(jobId).toMatch(/^chatcmpl-/);
    await expect(answer.getByTestId('answer-audit')).toHaveAttribute('data-state', /^(undecided|none|decided)$/);
    const audit = await request.get(`/api/audits/jobs/${jobId}`);
    const state = await answer.getByTestId('answer-audit').getAttribute('data-state');
    if (audit.status() === 404) expect(state).toMatch(/^(undecided|none)$/);
    else expect(await answer.getByTestId('answer-audit').getAttribute('data-status')).toBe(((await audit.json()) as { status: string }).status);
    await savePageShot(page, testInfo, 'chat-network-answer');

    // A long answer, stopped as soon as it starts: what was streamed is the start of the full answer.
    await stopsALongAnswer(page, [{ role: 'user', content: question }, { role: 'assistant', content: expected.text }], 500);
    await expect(page.getByRole('button', { name: 'Stop' })).toHaveCount(0);
  } finally {
    await tab.close();
  }
});

test('with no contributor tab online, "Run on my own GPU" answers in the page, as the Node reference does', async ({ page, request }, testInfo) => {
  await expect.poll(async () => ((await (await request.get('/api/network')).json()) as { tabs: unknown[] }).tabs.length).toBe(0);
  await page.goto('/chat?backend=wasm');
  await expect(page.getByTestId('no-tabs')).toBeVisible();
  await page.getByLabel('Run on my own GPU').check();
  await expect(page.getByTestId('local-status')).toHaveAttribute('data-phase', 'ready');
  await expect(page.getByTestId('local-backend-used')).toHaveText('wasm');

  const question = 'Hello, Dolphin! 你好 🐬';
  const settings = { temperature: 0.8, maxTokens: 24, seed: 1234 };
  const { answer, expected } = await answersAsTheReference(page, question, settings);
  await expect(answer.getByTestId('answer-facts')).toHaveAttribute('data-source', 'local');
  await expect(answer.getByTestId('answer-source')).toHaveText('this tab (your own device)');
  await expect(answer.getByTestId('answer-backend')).toHaveText('wasm');
  await expect(answer.getByTestId('answer-seed')).toHaveText('1234');
  await expect(answer.getByTestId('answer-cost')).toContainText(`free (no network, no audit) · ${expected.promptTokens} prompt + ${expected.completionTokens} completion tokens`);
  await expect(answer.getByTestId('answer-audit')).toHaveCount(0);
  expect(Number(await answer.getByTestId('answer-speed').getAttribute('data-tokens-per-second'))).toBeGreaterThan(0);
  // Nothing went through the network: still no tab.
  expect(((await (await request.get('/api/network')).json()) as { tabs: unknown[] }).tabs).toEqual([]);
  await savePageShot(page, testInfo, 'chat-local-answer');

  // Stop reaches this tab's worker too: what was shown is the start of the full answer.
  await stopsALongAnswer(page, [{ role: 'user', content: question }, { role: 'assistant', content: expected.text }], 400);
  // Readable on a phone: nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await savePageShot(page, testInfo, 'chat-local-answer-phone');
});
