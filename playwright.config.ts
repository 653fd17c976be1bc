import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumArgs, chromiumPath } from './test/support/chromium.ts';

export const E2E_PORT = Number(process.env.E2E_PORT ?? 8799);
/**
 * A second coordinator for the trust and DPHN tests (issues #4, #5): it serves the test-hooks build (`dist-test`,
 * where `?cheat=` makes a tab cheat) and the cheaters' models (`test-models`), plants known-bad transcripts often,
 * and prices one test model far beyond a new account's credits (test/e2e/prices.json). A tab holds one job at a
 * time there, so a round of as many requests as tabs gives each tab one (the tests need every tab, a cheater
 * among them, to serve: the scheduler alone would queue them on the fastest).
 */
export const TRUST_PORT = E2E_PORT + 1;

/**
 * Each coordinator keeps its SQLite file in a fresh folder per run. Every tab and account here comes from
 * 127.0.0.1, so the per-address faucets and the demo key's rate are raised to what a test run needs.
 */
const dataDir = (name: string) => mkdtempSync(join(tmpdir(), `dolphin-e2e-${name}-`));
const economy = { FAUCET_PER_HOUR: '1000', DEMO_REQUESTS_PER_MINUTE: '1000' };

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
    screenshot: 'only-on-failure',
  },
  webServer: [
    {
      command: 'npx tsx coordinator/main.ts',
      url: `http://127.0.0.1:${E2E_PORT}/api/network`,
      // A short queue per model, so a burst of requests fills it (the backpressure test).
      env: { PORT: String(E2E_PORT), HOST: '127.0.0.1', TAB_IDLE_TIMEOUT_MS: '120000', QUEUE_PER_MODEL: '4', DATA_DIR: dataDir('main'), ...economy },
      reuseExistingServer: false,
      stdout: 'pipe',
      stderr: 'pipe',
      timeout: 60_000,
    },
    {
      command: 'npx tsx coordinator/main.ts',
      url: `http://127.0.0.1:${TRUST_PORT}/api/network`,
      env: { PORT: String(TRUST_PORT), HOST: '127.0.0.1', TAB_IDLE_TIMEOUT_MS: '120000', WEB_DIR: 'dist-test', MODELS_DIR: 'models:test-models', AUDIT_PLANT_RATE: '0.3', JOBS_PER_TAB: '1', DATA_DIR: dataDir('trust'), PRICES_FILE: 'test/e2e/prices.json', ...economy },
      reuseExistingServer: false,
      stdout: 'pipe',
      stderr: 'pipe',
      timeout: 60_000,
    },
  ],
});
