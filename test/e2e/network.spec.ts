/**
 * The network page (issue #7) against the real coordinator: a real contributor tab (Chromium, WASM) joins and
 * serves completions from a real account while /network stays open, and the page shows, without a reload, what the
 * coordinator computed — the tab with its backend and model, the jobs and tokens done, throughput above zero, its
 * contributor among the top contributors — then the tab leaving.
 */
import { test, expect, type Page } from '@playwright/test';
import OpenAI from 'openai';
import { openContributorTab } from '../support/contributor-tab.ts';
import { newAccount } from '../support/account.ts';
import { savePageShot } from '../support/page-shot.ts';
import type { ContributorRanking, NetworkHistoryEvent } from '../../src/protocol/network.ts';

const MODEL = 'dolphin-tiny';
const numberIn = async (page: Page, testId: string) => Number(await page.getByTestId(testId).innerText());

test('the network page follows a tab joining, serving completions and leaving, live', async ({ browser, page, request }, testInfo) => {
  const baseURL = testInfo.project.use.baseURL as string;
  await page.goto('/network');
  await expect(page.getByTestId('live-status')).toHaveAttribute('data-state', 'live');
  await expect(page.getByTestId('jobs-total')).toBeVisible();
  // Set once: still there at the end only if the page was never reloaded.
  await page.evaluate(() => Object.assign(window, { notReloaded: true }));
  const before = { jobs: await numberIn(page, 'jobs-total'), tokens: await numberIn(page, 'tokens-total') };
  const history = async () => (await (await request.get('/api/network/history')).json()) as NetworkHistoryEvent;
  // The tabs the page counts are the coordinator's (a tab of an earlier test may still be leaving: no fixed number).
  const tabsShownAsReady = async () => (await numberIn(page, 'tabs-total')) === (await history()).now.tabsReady;

  const tab = await openContributorTab(browser, 'wasm');
  const tabId = /as (tab-\d+)/.exec(await tab.page.getByTestId('status').innerText())?.[1] ?? 'unknown';
  try {
    const row = page.locator(`[data-testid="tab-row"][data-tab="${tabId}"]`);
    await expect(row.getByTestId('tab-backend')).toHaveText('wasm');
    await expect(row.getByTestId('tab-models')).toContainText(MODEL);
    await expect.poll(tabsShownAsReady).toBe(true);
    expect(await numberIn(page, 'tabs-total')).toBeGreaterThanOrEqual(1);
    await expect(page.getByRole('img', { name: /^Tabs by model:/ })).toHaveAttribute('aria-label', new RegExp(`${MODEL}: [1-9]`));

    const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: (await newAccount(baseURL, 'network-e2e')).apiKey, maxRetries: 0 });
    let tokens = 0;
    const jobs = 3;
    for (let i = 0; i < jobs; i++) {
      const completion = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `Tell me about the sea, part ${i}.` }], max_tokens: 8, temperature: 0.7, seed: 100 + i });
      tokens += completion.usage?.completion_tokens ?? 0;
    }
    expect(tokens).toBeGreaterThan(0);

    // What the coordinator counted as the jobs ended, on the page without a reload.
    await expect(page.getByTestId('jobs-total')).toHaveText(String(before.jobs + jobs));
    await expect(page.getByTestId('tokens-total')).toHaveText(String(before.tokens + tokens));
    await expect(row.getByTestId('tab-jobs')).toHaveText(String(jobs));
    expect(await numberIn(page, 'tokens-per-second-peak')).toBeGreaterThan(0);
    expect(await numberIn(page, 'jobs-per-second-peak')).toBeGreaterThan(0);
    // The numbers shown are the coordinator's: the largest tokens/s and the audits in the history it serves.
    const shown = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
    await expect.poll(async () => (await page.getByTestId('tokens-per-second-peak').innerText()) === shown(Math.max(...(await history()).samples.map((s) => s.throughput.tokensPerSecond)))).toBe(true);
    await expect.poll(async () => (await numberIn(page, 'audits-passed')) === (await history()).samples.at(-1)?.audits.passed).toBe(true);

    // The top contributors are the coordinator's ranking; the tab's identity is in it with every job audited (a new
    // identity's jobs all are, whatever came of them), and on the page when it is among the first ten.
    const ranking = async (limit: number) => ((await (await request.get(`/api/contributors?order=reputation&limit=${limit}`)).json()) as ContributorRanking).data;
    await expect.poll(async () => JSON.stringify(await page.getByTestId('contributor-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-contributor')))) === JSON.stringify((await ranking(10)).map((r) => r.contributorId))).toBe(true);
    const contributorId = (await history()).now.tabs.find((t) => t.id === tabId)?.contributorId;
    const place = (await ranking(100)).findIndex((r) => r.contributorId === contributorId);
    expect(place).toBeGreaterThanOrEqual(0);
    expect((await ranking(100))[place]?.audited).toBe(jobs);
    if (place < 10) await expect(page.locator(`[data-testid="contributor-row"][data-contributor="${contributorId}"] td`).nth(2)).toHaveText(String(jobs));

    await savePageShot(page, testInfo, 'network');
    await page.setViewportSize({ width: 390, height: 844 });
    // Readable on a phone: nothing wider than the screen, the tables fit without scrolling sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(await page.locator('table').evaluateAll((tables) => tables.filter((t) => t.scrollWidth > (t.parentElement?.clientWidth ?? 0)).map((t) => `${t.dataset['testid']}: ${t.scrollWidth} > ${t.parentElement?.clientWidth}`))).toEqual([]);
    await savePageShot(page, testInfo, 'network-phone');
  } finally {
    await tab.close();
  }
  await expect(page.locator(`[data-testid="tab-row"][data-tab="${tabId}"]`)).toHaveCount(0);
  await expect.poll(tabsShownAsReady).toBe(true);
  expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
});
