/**
 * Opens a contributor tab the way an unattended contributor does (`/?autostart=1&backend=...`) and waits until
 * the coordinator lists it as serving.
 */
import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test';

export interface ContributorTab {
  backend: 'wasm' | 'webgpu';
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function openContributorTab(browser: Browser, backend: 'wasm' | 'webgpu', model = 'dolphin-tiny'): Promise<ContributorTab> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${backend} tab] ${error.message}`));
  await page.goto(`/?autostart=1&backend=${backend}&model=${model}`);
  await expect(page.getByTestId('status')).toHaveAttribute('data-phase', 'serving');
  await expect(page.getByTestId('backend')).toHaveText(backend);
  return { backend, context, page, close: () => context.close() };
}
