import { defineConfig } from '@playwright/test';
import { chromiumArgs, chromiumPath } from './test/support/chromium.ts';

export const E2E_PORT = Number(process.env.E2E_PORT ?? 8799);
/**
 * A second coordinator for the trust tests (issue #4): it serves the test-hooks build (`dist-test`, where `?cheat=`
 * makes a tab cheat) and the cheaters' models (`test-models`), and plants known-bad transcripts often.
 */
export const TRUST_PORT = E2E_PORT + 1;

export default defineConfig({
  testDir: 'test/e2e',
  timeout: 180_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: process.env.CI ? 'line' : 'list',
  use: {
    baseURL: `http://127.0.0.1:${E2E_PORT}`,
    browserName: 'chromium',
    launchOptions: { executablePath: chromiumPath, args: chromiumArgs },
    trace: 'retain-on-failure',
  },
  webServer: [
    {
      command: 'npx tsx coordinator/main.ts',
      url: `http://127.0.0.1:${E2E_PORT}/v1/models`,
      env: { PORT: String(E2E_PORT), HOST: '127.0.0.1', TAB_IDLE_TIMEOUT_MS: '120000' },
      reuseExistingServer: false,
      stdout: 'pipe',
      stderr: 'pipe',
      timeout: 60_000,
    },
    {
      command: 'npx tsx coordinator/main.ts',
      url: `http://127.0.0.1:${TRUST_PORT}/v1/models`,
      env: { PORT: String(TRUST_PORT), HOST: '127.0.0.1', TAB_IDLE_TIMEOUT_MS: '120000', WEB_DIR: 'dist-test', MODELS_DIR: 'models:test-models', AUDIT_PLANT_RATE: '0.3' },
      reuseExistingServer: false,
      stdout: 'pipe',
      stderr: 'pipe',
      timeout: 60_000,
    },
  ],
});
