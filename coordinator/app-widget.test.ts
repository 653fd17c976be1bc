/** The coordinator serves widget.js (src/widget/) to any origin; the rest of the web app stays same-origin. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEconomy } from '../test/unit/economy.ts';
import { testApp, writeTestModels, type TestModels } from '../test/unit/test-app.ts';

const WIDGET = '(function(){window.Dolphin={}})();\n';
let fixture: TestModels;

beforeAll(async () => {
  fixture = await writeTestModels('dolphin-widget-', { 'tiny-a': {} });
  await writeFile(join(fixture.root, 'web', 'widget.js'), WIDGET);
  await writeFile(join(fixture.root, 'web', 'app.js'), 'console.log(1);\n');
});
afterAll(async () => {
  await fixture.remove();
});

async function app() {
  const economy = await testEconomy({ catalogue: fixture.catalogue });
  return testApp({ models: fixture, economy: economy.wiring.deps }).app;
}

describe('GET /widget.js', () => {
  it('serves the built widget as JavaScript that another origin may load, fetch and cache for a while', async () => {
    const response = await (await app()).request('/widget.js', { headers: { Origin: 'http://site.example' } });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(WIDGET);
    expect(response.headers.get('content-type')).toMatch(/^(text|application)\/javascript/);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(response.headers.get('cache-control')).toBe('public, max-age=300, must-revalidate');
  });

  it('leaves the other static files same-origin and without CORS', async () => {
    const response = await (await app()).request('/app.js', { headers: { Origin: 'http://site.example' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('cache-control')).toBeNull();
  });

  it('gives a missing widget a plain 404, not a cacheable cross-origin answer', async () => {
    const empty = await writeTestModels('dolphin-widget-none-', { 'tiny-a': {} });
    try {
      const economy = await testEconomy({ catalogue: empty.catalogue });
      const response = await testApp({ models: empty, economy: economy.wiring.deps }).app.request('/widget.js');
      expect(response.status).toBe(404);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      expect(response.headers.get('cache-control')).toBeNull();
    } finally {
      await empty.remove();
    }
  });
});
