/**
 * The contribute page as a new contributor meets it (issue #7): consent, the model's download to 100%, serving
 * and earning live, staking from the page, and a reload that downloads nothing. A real tab on the real coordinator.
 */
import { test, expect, type Page } from '@playwright/test';
import { newAccount } from '../support/account.ts';
import { savePageShot } from '../support/page-shot.ts';
import type { ContributorView } from '../../src/protocol/accounts.ts';

const startFromPage = async (page: Page) => {
  await page.getByRole('button', { name: 'Start contributing' }).click();
  await expect(page.getByTestId('status')).toHaveAttribute('data-phase', 'serving');
};

test('a contributor starts from the page: the download reaches 100%, the tab serves and earns, it unstakes, and a reload downloads nothing', async ({ browser, request }, info) => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const modelFiles: string[] = [];
    context.on('request', (r) => void (/\/models\/[^/]+\/.+\.onnx/.test(new URL(r.url()).pathname) && modelFiles.push(r.url())));
    await page.goto('/?backend=wasm');
    await expect(page.getByTestId('download-text')).toContainText('downloaded when you start');
    await expect(page.getByTestId('storage')).toContainText('this site may use');

    // Nothing is downloaded before the contributor agrees and starts.
    await expect(page.getByRole('button', { name: 'Start contributing' })).toBeDisabled();
    expect(modelFiles).toEqual([]);
    await page.getByRole('checkbox', { name: 'I agree to run these jobs on this device' }).check();
    await startFromPage(page);
    const bar = page.getByTestId('download-progress');
    expect(await bar.evaluate((e: HTMLProgressElement) => e.max > 0 && e.value === e.max)).toBe(true);
    await expect(page.getByTestId('download-text')).toContainText('100%');
    await expect(page.getByTestId('model-source')).toContainText('downloaded');
    expect(modelFiles.length).toBeGreaterThan(0);

    // It serves a request and the page shows it live: the job count, a throughput above zero, its record and DPHN.
    const contributorId = await page.getByTestId('contributor-id').innerText();
    const { apiKey } = await newAccount(info.project.use.baseURL as string, 'contribute-page');
    const response = await request.post('/v1/chat/completions', { headers: { Authorization: `Bearer ${apiKey}` }, data: { model: 'dolphin-tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 12 } });
    expect(response.status()).toBe(200);
    await expect(page.getByTestId('served')).toHaveText(/^1 jobs, \d+ tokens/);
    await expect.poll(async () => Number(await page.getByRole('figure').filter({ hasText: 'Tokens per second' }).getAttribute('data-max'))).toBeGreaterThan(0);
    const before = (await (await request.get(`/api/contributors/${contributorId}`)).json()) as ContributorView;
    await expect(page.getByTestId('dphn')).toContainText(`${before.dphn.staked.dphn} staked`);
    await expect(page.getByTestId('audits')).toContainText('passed');

    // Unstaking from the page: signed by this browser's key, the coordinator moves it to unbonding.
    await page.getByTestId('stake-amount').fill('1.5');
    await page.getByRole('button', { name: 'Unstake' }).click();
    await expect(page.getByTestId('stake-outcome')).toContainText('Unstaking 1.5 DPHN');
    const after = (await (await request.get(`/api/contributors/${contributorId}`)).json()) as ContributorView;
    expect(after.dphn.staked.micros).toBe(before.dphn.staked.micros - 1_500_000);
    expect(after.dphn.unbonding.micros).toBe(before.dphn.unbonding.micros + 1_500_000);
    await expect(page.getByTestId('dphn')).toContainText(`${after.dphn.staked.dphn} staked · ${after.dphn.unbonding.dphn} unbonding`);
    // Staking more than is available is refused with the coordinator's reason, and nothing moves.
    await page.getByTestId('stake-amount').fill('100000');
    await page.getByRole('button', { name: 'Stake', exact: true }).click();
    await expect(page.getByRole('alert')).toContainText('Could not stake');
    expect(((await (await request.get(`/api/contributors/${contributorId}`)).json()) as ContributorView).dphn.staked.micros).toBe(after.dphn.staked.micros);
    await savePageShot(page, info, 'contribute');
    await page.setViewportSize({ width: 390, height: 844 });
    await savePageShot(page, info, 'contribute-phone');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    // A reload keeps the model in the Cache API: Start again loads it without a single model file request.
    modelFiles.length = 0;
    await page.reload();
    await expect(page.getByTestId('download-text')).toContainText('already in this browser');
    await startFromPage(page);
    await expect(page.getByTestId('model-source')).toContainText('nothing downloaded');
    expect(modelFiles).toEqual([]);
  } finally {
    await context.close();
  }
});
