/**
 * The app shell (issue #7): the service worker precaches it, so with the network cut every page still opens, and
 * still cross-origin isolated (the precached responses keep the coordinator's COOP/COEP headers).
 */
import { test, expect } from '@playwright/test';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { savePageShot } from '../support/page-shot.ts';
import { TRUST_PORT } from '../../playwright.config.ts';

test('with the network cut, every page of the app shell still opens', async ({ browser }, info) => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto('/');
    await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
    await context.setOffline(true);
    // Offline for real: the API no longer answers.
    expect(await page.evaluate(() => fetch('/api/network').then(() => 'answered', () => 'failed'))).toBe('failed');
    for (const [path, heading] of [['/', 'Contribute your GPU'], ['/chat', 'Chat'], ['/network', 'network'], ['/developers', 'Developers'], ['/chat?model=dolphin-tiny', 'Chat']] as const) {
      await page.goto(path);
      await expect(page.getByRole('heading', { level: 1 })).toContainText(heading);
      await expect(page.getByRole('navigation')).toContainText('Developers');
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    }
    await page.goto('/');
    await expect(page.getByTestId('contributor-id')).toHaveText(/^[0-9a-f]{40}$/);
    await savePageShot(page, info, 'offline-contribute');
  } finally {
    await context.close();
  }
});

test('a new version waits until the person reloads, then takes over', async ({ browser }) => {
  // A redeploy, on the coordinator that serves the test-hooks build (dist-test): the same service worker with other
  // bytes. Browsers fetch the worker's script themselves, past Playwright's routing, so the file itself changes.
  const context = await browser.newContext({ baseURL: `http://127.0.0.1:${TRUST_PORT}` });
  const swFile = join('dist-test', 'sw.js');
  const original = await readFile(swFile, 'utf8');
  try {
    const page = await context.newPage();
    await page.goto('/chat');
    await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
    await writeFile(swFile, `${original}\n// redeployed\n`);
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.update());
    const banner = page.getByRole('status').filter({ hasText: 'A new version of Dolphin is ready' });
    await expect(banner).toBeVisible();
    // Until the person chooses, the old version keeps the page and the new one waits.
    expect(await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.waiting !== null))).toBe(true);
    const loaded = page.waitForEvent('load');
    await banner.getByRole('button', { name: 'Reload to update' }).click();
    await loaded;
    await expect(page.getByRole('heading', { level: 1 })).toContainText('Chat');
    await expect(banner).toHaveCount(0);
    expect(await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.waiting === null && r?.active?.state === 'activated'))).toBe(true);
  } finally {
    await writeFile(swFile, original);
    await context.close();
  }
});
