import type { Page, TestInfo } from '@playwright/test';

/**
 * Saves a full-page screenshot of what a person sees under this run's test output (test-results/<test>/<name>.png)
 * and attaches it to the report, so each run keeps a picture of every page with its live data.
 */
export async function savePageShot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}
