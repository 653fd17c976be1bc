/**
 * The developers page (issue #7) on the real coordinator: an account made from the page, its key and balance as
 * the API reports them, and the page's own curl snippet run for real (bash, curl) against a real contributor tab,
 * after which the page shows the request in its usage and history and the balance it left, and pages back through
 * older rows.
 */
import { test, expect, type APIRequestContext } from '@playwright/test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AccountView, LedgerEntryView, Page as ApiPage, UsageView } from '../../src/protocol/accounts.ts';
import type { ChatCompletionChunk } from '../../src/protocol/api.ts';
import { openContributorTab, type ContributorTab } from '../support/contributor-tab.ts';
import { savePageShot } from '../support/page-shot.ts';

const MODEL = 'dolphin-tiny';
const run = promisify(execFile);

async function get<T>(request: APIRequestContext, path: string, key: string): Promise<T> {
  const response = await request.get(path, { headers: { Authorization: `Bearer ${key}` } });
  expect(response.status(), `${path}: ${await response.text()}`).toBe(200);
  return (await response.json()) as T;
}

let tab: ContributorTab | undefined;
test.afterAll(async () => {
  await tab?.close();
});

test('an account made on the page, its curl snippet run for real, its usage and balance after', async ({ page, context, browser, request, baseURL }, testInfo) => {
  const tabReady = openContributorTab(browser, 'wasm').then((t) => (tab = t));
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL as string });
  await page.goto('/developers');

  // Prices and models as the network lists them.
  const network = (await (await request.get('/api/network')).json()) as { dphn: { prices: Array<{ model: string; completion_per_1k: { dphn: string } }> } };
  for (const price of network.dphn.prices) await expect(page.getByTestId('prices').getByRole('row').filter({ hasText: price.model })).toContainText(price.completion_per_1k.dphn);
  await expect(page.getByTestId('snippet-curl')).toContainText('YOUR_API_KEY');

  await page.getByLabel('Name (optional)').fill('Snippet tester');
  await page.getByRole('button', { name: 'Create account and key' }).click();
  await expect(page.getByTestId('new-key')).toContainText('Copy it now: it will not be shown again.');
  const key = await page.getByTestId('new-key-secret').innerText();
  expect(key).toMatch(/^dphn_/);

  // The balance the page shows is the one the coordinator reports for that key.
  const before = await get<AccountView>(request, '/api/account', key);
  expect(before.name).toBe('Snippet tester');
  expect(before.balance.micros).toBeGreaterThan(0);
  await expect(page.getByTestId('balance')).toHaveText(before.balance.dphn);
  await expect(page.getByTestId('usage-empty')).toBeVisible();

  // The curl snippet, copied with its button, is the visible one and carries the key and the model.
  await page.getByLabel('Model for the snippets').selectOption(MODEL);
  const shown = (await page.getByTestId('snippet-curl').textContent()) ?? '';
  expect(shown).toContain(key);
  expect(shown).toContain(`${baseURL}/v1/chat/completions`);
  await page.getByRole('button', { name: 'Copy curl (streaming)' }).click();
  await expect(page.getByRole('button', { name: 'Copy curl (streaming)' })).toHaveText('Copied');
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied).toBe(shown);

  await tabReady;
  const { stdout } = await run('bash', ['-c', copied], { timeout: 120_000 });
  const events = stdout.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice('data: '.length));
  expect(events.at(-1)).toBe('[DONE]');
  const chunks = events.slice(0, -1).map((data) => JSON.parse(data) as ChatCompletionChunk);
  expect(chunks.every((c) => c.model === MODEL)).toBe(true);
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  expect(text.length).toBeGreaterThan(0);

  // Refreshed, the page shows the job as the coordinator billed it, and the balance it left.
  let job: UsageView | undefined;
  await expect(async () => {
    const usage = await get<ApiPage<UsageView>>(request, '/api/account/usage', key);
    job = usage.data[0];
    expect(usage.data).toHaveLength(1);
    expect(job?.status).toBe('settled');
  }).toPass({ timeout: 30_000 });
  const billed = job as UsageView;
  expect(billed.completion_tokens).toBeGreaterThan(0);
  expect(billed.completion_tokens).toBeLessThanOrEqual(16);
  const after = await get<AccountView>(request, '/api/account', key);
  expect(after.balance.micros).toBe(before.balance.micros - (billed.charged?.micros ?? Number.NaN));

  await page.getByRole('button', { name: 'Refresh' }).click();
  const row = page.getByTestId('usage-row');
  await expect(row).toHaveCount(1);
  await expect(row).toHaveAttribute('data-job', billed.job_id);
  await expect(row).toContainText(MODEL);
  await expect(row.getByTestId('usage-tokens')).toHaveText(`${billed.prompt_tokens} + ${billed.completion_tokens}`);
  await expect(row.getByTestId('usage-charged')).toHaveText(billed.charged?.dphn ?? '');
  await expect(row.getByTestId('usage-status')).toHaveText('settled');
  await expect(page.getByTestId('balance')).toHaveText(after.balance.dphn);
  await expect(page.getByTestId('balance')).not.toHaveText(before.balance.dphn);

  // The history: the entries the ledger holds for the account, which add up to its balance.
  const ledger = await get<ApiPage<LedgerEntryView>>(request, '/api/account/history', key);
  expect(ledger.data.reduce((sum, entry) => sum + entry.amount.micros, 0)).toBe(after.balance.micros);
  expect(ledger.data.at(-1)?.kind).toBe('faucet');
  const entries = page.getByTestId('history-row');
  await expect(entries).toHaveCount(ledger.data.length);
  await expect(entries.last()).toContainText('Starter credits');
  await expect(entries.last().getByTestId('history-amount')).toHaveText(`+${before.balance.dphn}`);
  await expect(entries.filter({ hasText: 'Held for a request' })).toContainText(billed.job_id);
  await expect(page.getByTestId('history-older')).toHaveCount(0);

  await savePageShot(page, testInfo, 'developers');

  // Twenty more requests (one token each) fill more than a page of each table: older rows come a page at a time.
  for (let i = 0; i < 20; i++) {
    const response = await request.post('/v1/chat/completions', { headers: { Authorization: `Bearer ${key}` }, data: { model: MODEL, messages: [{ role: 'user', content: `ping ${i}` }], max_tokens: 1 } });
    expect(response.status(), await response.text()).toBe(200);
  }
  const allJobs = await get<ApiPage<UsageView>>(request, '/api/account/usage?limit=100', key);
  expect(allJobs.data).toHaveLength(21);
  await page.getByRole('button', { name: 'Refresh' }).click();
  await expect(page.getByTestId('usage-row')).toHaveCount(20);
  await page.getByRole('button', { name: 'Show older requests' }).click();
  await expect(page.getByTestId('usage-row')).toHaveCount(21);
  await expect(page.getByTestId('usage-row').last()).toHaveAttribute('data-job', billed.job_id);
  await expect(page.getByTestId('usage-older')).toHaveCount(0);

  const allEntries = await get<ApiPage<LedgerEntryView>>(request, '/api/account/history?limit=100', key);
  expect(allEntries.data.length).toBeGreaterThan(20);
  await expect(entries).toHaveCount(20);
  for (let shown = 20; shown < allEntries.data.length; ) {
    await page.getByRole('button', { name: 'Show older entries' }).click();
    shown = Math.min(shown + 20, allEntries.data.length);
    await expect(entries).toHaveCount(shown);
  }
  // A full last page cannot know it is the last: one more ask finds nothing older and the button goes.
  if (allEntries.data.length % 20 === 0) await page.getByRole('button', { name: 'Show older entries' }).click();
  await expect(page.getByTestId('history-older')).toHaveCount(0);
  await expect(entries.getByTestId('history-amount')).toHaveText(allEntries.data.map((entry) => (entry.amount.micros > 0 ? `+${entry.amount.dphn}` : entry.amount.dphn)));
  await expect(entries.last()).toContainText('Starter credits');
});

test('a pasted key: refused with the API message, kept in this browser only when asked, and forgotten', async ({ page, request, baseURL }, testInfo) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/developers');

  // Well-formed but unknown: the coordinator's 401, in an alert.
  await page.getByLabel('API key').fill(`dphn_${'x'.repeat(32)}`);
  await page.getByRole('button', { name: 'Show my account' }).click();
  const refusal = await request.get('/api/account', { headers: { Authorization: `Bearer dphn_${'x'.repeat(32)}` } });
  expect(refusal.status()).toBe(401);
  await expect(page.getByRole('alert')).toHaveText(((await refusal.json()) as { error: { message: string } }).error.message);

  // A real key, made through the API: its account on the page, not kept until asked.
  const made = await request.post('/api/accounts', { data: { name: 'Pasted' } });
  expect(made.status()).toBe(201);
  const { key: { key }, account: { id: accountId } } = (await made.json()) as { key: { key: string }; account: { id: string } };
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Show my account' }).click();
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(page.getByTestId('balance')).toHaveText((await get<AccountView>(request, '/api/account', key)).balance.dphn);
  await expect(page.getByTestId('snippet-widget')).toHaveText(new RegExp(`^<script src="${baseURL}/widget.js" data-api-key="${key}" data-model="[^"]+" data-payout-account="${accountId}"></script>$`));

  await page.reload();
  await expect(page.getByRole('button', { name: 'Show my account' })).toBeVisible();
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Show my account' }).click();
  await page.getByLabel('Keep this key in this browser').check();
  await page.reload();
  await expect(page.getByTestId('account')).toContainText('Pasted');
  await expect(page.getByLabel('Keep this key in this browser')).toBeChecked();

  // Readable on a phone: nothing wider than the screen but what scrolls in its own box.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await savePageShot(page, testInfo, 'developers-phone');

  // Another key, shown once, then revoked from the page: the coordinator refuses it after.
  await page.getByLabel('New key name (optional)').fill('nightly build');
  await page.getByRole('button', { name: 'Create another key' }).click();
  await expect(page.getByTestId('new-key')).toContainText('(nightly build)');
  const second = await page.getByTestId('new-key-secret').innerText();
  expect((await get<AccountView>(request, '/api/account', second)).name).toBe('Pasted');
  await page.getByRole('button', { name: `Revoke key ${second.slice(0, 12)}… (nightly build)` }).click();
  await expect(page.getByTestId('keys').getByRole('listitem').filter({ hasText: 'nightly build' })).toContainText('revoked');
  expect((await request.get('/api/account', { headers: { Authorization: `Bearer ${second}` } })).status()).toBe(401);

  await page.getByRole('button', { name: 'Forget this key' }).click();
  await expect(page.getByTestId('snippet-curl')).toContainText('YOUR_API_KEY');
  await page.reload();
  await expect(page.getByRole('button', { name: 'Show my account' })).toBeVisible();
  expect(await page.evaluate(() => localStorage.length)).toBe(0);
});
