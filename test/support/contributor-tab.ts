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

/**
 * `webrtc: false` keeps the tab on its WebSocket (`?webrtc=0`); otherwise it waits until the data channel is up.
 * `cheat` (only on a coordinator serving the test-hooks build) makes the tab cheat that way. Each tab gets its own
 * browser context, so its own IndexedDB and contributor identity.
 */
export async function openContributorTab(browser: Browser, backend: 'wasm' | 'webgpu', options: { model?: string; webrtc?: boolean; cheat?: string; baseURL?: string } = {}): Promise<ContributorTab> {
  const context = await browser.newContext(options.baseURL ? { baseURL: options.baseURL } : {});
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${backend} tab] ${error.message}`));
  const webrtc = options.webrtc ?? true;
  // expose=1: the tests may reach into the page (window.dolphin), e.g. to cut its data channel.
  await page.goto(`/?autostart=1&expose=1&backend=${backend}&model=${options.model ?? 'dolphin-tiny'}${webrtc ? '' : '&webrtc=0'}${options.cheat ? `&cheat=${options.cheat}` : ''}`);
  await expect(page.getByTestId('status')).toHaveAttribute('data-phase', 'serving');
  await expect(page.getByTestId('backend')).toHaveText(backend);
  await expect(page.getByTestId('transport')).toHaveAttribute('data-transport', webrtc ? 'webrtc' : 'websocket');
  return { backend, context, page, close: () => context.close() };
}
