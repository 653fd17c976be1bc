/**
 * The embeddable widget (issue #7): a page on a second origin (a node:http server on its own port) loads
 * COORDINATOR/widget.js with a real account's key; <dolphin-chat> streams a reply from a real contributor tab, equal
 * to the Node reference at the seed the coordinator used, and window.Dolphin.stream streams without the UI. The
 * page's aggressive CSS does not reach the widget and the widget's CSS does not reach the page (computed styles
 * with and without the other's CSS are equal). Ticking "Lend my GPU" makes the visitor's tab a contributor that
 * serves, until it is unticked.
 */
import { test, expect, type APIRequestContext, type Page } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { newAccount } from '../support/account.ts';
import { openContributorTab, type ContributorTab } from '../support/contributor-tab.ts';
import { loadNodeModel } from '../support/node-model.ts';
import { savePageShot } from '../support/page-shot.ts';
import { runChatTask, type LoadedModel } from '../../worker/runtime.ts';
import type { PlainMessage } from '../../src/protocol/api.ts';

const MODEL = 'dolphin-tiny';
/** What <dolphin-chat> asks for per reply (its default max-tokens) at the API's default sampling. */
const WIDGET_PARAMS = { maxTokens: 128, temperature: 1, topP: 1 };

let coordinator: string;
let apiKey: string;
/** The site's requester account: what a visitor lending their GPU earns goes there. */
let siteAccount: string;
let tab: ContributorTab;
let reference: LoadedModel;
let host: Server;
let hostOrigin: string;

/**
 * The host site's CSS, aimed at the elements and the class names the widget uses, with !important and on
 * inherited properties (which pass into a shadow root through the element unless the widget stops them).
 */
const HOST_CSS = `
  body { font-family: serif; color: rgb(200, 0, 0); letter-spacing: 3px; text-transform: uppercase; line-height: 3; }
  body * { text-shadow: 0 0 2px blue; word-spacing: 9px; }
  button, p, li, textarea, ol, form, section { color: red !important; font-family: serif !important; background: yellow !important; border: 5px dashed green !important; }
  .frame, .title, .transcript, .turn, .who, .send, .stop, .muted, .actions { display: inline !important; padding: 33px !important; margin: 33px !important; font-size: 33px !important; }
`;

/** The host page: its own elements (named like the widget's), with or without its CSS and the widget script. */
function hostPage(options: { css: boolean; widget: boolean }): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>A site that embeds Dolphin</title>
${options.css ? `<style>${HOST_CSS}</style>` : ''}</head><body>
<h1>Someone else's site</h1>
<p class="who" id="host-p">A paragraph of the site's own.</p>
<button class="send" id="host-button">The site's button</button>
<ol class="transcript" id="host-list"><li class="turn user" id="host-li">The site's list item</li></ol>
${options.widget ? `<script src="${coordinator}/widget.js" data-api-key="${apiKey}" data-model="${MODEL}" data-payout-account="${siteAccount}"></script>` : ''}
<footer id="host-footer">The site's footer</footer>
</body></html>`;
}

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ browser }, info) => {
  coordinator = info.project.use.baseURL as string;
  const site = await newAccount(coordinator, 'widget-site');
  apiKey = site.apiKey;
  siteAccount = site.account.id;
  reference = await loadNodeModel(MODEL);
  tab = await openContributorTab(browser, 'wasm');
  host = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://host');
    // A site that frames the contribute page itself, hidden, asking it to start: it must not.
    if (url.pathname === '/framed') return void response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>Framing</title><iframe src="${coordinator}/?autostart=1&embed=1&model=${MODEL}" style="width:1px;height:1px;opacity:0"></iframe>`);
    if (url.pathname !== '/') return void response.writeHead(404).end('not found');
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(hostPage({ css: url.searchParams.get('css') === '1', widget: url.searchParams.get('widget') === '1' }));
  });
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  hostOrigin = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
  expect(hostOrigin).not.toBe(new URL(coordinator).origin);
});

test.afterAll(async () => {
  await new Promise<void>((resolve) => (host ? host.close(() => resolve()) : resolve()));
  await tab?.close();
  await reference?.engine.dispose();
});

const jobsServed = async () => Number(/^(\d+) jobs/.exec(await tab.page.getByTestId('served').innerText())?.[1] ?? NaN);

async function referenceText(messages: PlainMessage[], params: { maxTokens: number; temperature: number; topP: number; seed: number }): Promise<string> {
  return (await runChatTask(reference, { messages, params: { ...params, topK: 0, stop: [], topLogprobs: 0 } }, () => {})).text;
}

async function openHost(page: Page, options: { css: boolean; widget: boolean }): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${hostOrigin}/?css=${options.css ? 1 : 0}&widget=${options.widget ? 1 : 0}`);
  if (options.widget) await expect(page.locator('dolphin-chat').getByRole('button', { name: 'Send' })).toBeVisible();
  expect(errors).toEqual([]);
}

const PROPS = ['color', 'background-color', 'font-family', 'font-size', 'display', 'padding-top', 'margin-top', 'border-top-style', 'border-top-width', 'letter-spacing', 'word-spacing', 'text-transform', 'text-shadow', 'line-height'] as const;

/** Computed styles of the elements `selectors` pick, inside <dolphin-chat>'s shadow root or in the page itself. */
async function stylesOf(page: Page, where: 'widget' | 'page', selectors: string[]): Promise<Record<string, Record<string, string>>> {
  return page.evaluate(
    ({ where, selectors, props }) => {
      const root: ParentNode | null | undefined = where === 'widget' ? document.querySelector('dolphin-chat')?.shadowRoot : document;
      if (!root) throw new Error('no shadow root on <dolphin-chat>');
      return Object.fromEntries(
        selectors.map((s) => {
          const element = root.querySelector(s);
          if (!element) throw new Error(`no ${s} in the ${where}`);
          const style = getComputedStyle(element);
          return [s, Object.fromEntries(props.map((p) => [p, style.getPropertyValue(p)]))];
        }),
      );
    },
    { where, selectors, props: [...PROPS] },
  );
}

const WIDGET_PARTS = ['.frame', '.title', '.transcript', '.turn.user', '.turn.assistant', '.who', '.turn.assistant p', 'textarea', 'button.send', 'button.stop'];
const HOST_PARTS = ['body', 'h1', '#host-p', '#host-button', '#host-list', '#host-li', '#host-footer'];

/** Sends `text` from the widget's form by keyboard and waits for the finished reply: its text and seed. */
async function askWidget(page: Page, text: string): Promise<{ reply: string; seed: number }> {
  const widget = page.locator('dolphin-chat');
  const message = widget.getByLabel('Message');
  await message.focus();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
  await expect(message).toHaveValue('');
  const reply = widget.locator('li.turn.assistant').last();
  await expect(reply).toHaveAttribute('data-done', '');
  await expect(reply.getByRole('alert')).toHaveCount(0);
  // textContent, not innerText: the reply's exact characters (random-weight models write any whitespace).
  return { reply: (await reply.locator('p').textContent()) ?? '', seed: Number(await reply.getAttribute('data-seed')) };
}

test('the widget on a page of another origin streams a reply from a contributor tab, equal to the reference at its seed', async ({ page }, info) => {
  const before = await jobsServed();
  const widgetJs = page.waitForResponse(`${coordinator}/widget.js`);
  await openHost(page, { css: true, widget: true });
  const served = await widgetJs;
  expect(served.headers()['cross-origin-resource-policy']).toBe('cross-origin');
  // Mounted right after its script tag, before the page's own footer.
  expect(await page.evaluate(() => document.querySelector('script[src$="/widget.js"]')?.nextElementSibling?.tagName)).toBe('DOLPHIN-CHAT');

  const question = 'Hello from another origin';
  const { reply, seed } = await askWidget(page, question);
  expect(Number.isSafeInteger(seed)).toBe(true);
  expect(reply.length).toBeGreaterThan(0);
  expect(reply).toBe(await referenceText([{ role: 'user', content: question }], { ...WIDGET_PARAMS, seed }));
  expect(await jobsServed()).toBeGreaterThan(before);

  // A second message sends the first exchange as history.
  const second = await askWidget(page, 'And again');
  expect(second.reply).toBe(await referenceText([{ role: 'user', content: question }, { role: 'assistant', content: reply }, { role: 'user', content: 'And again' }], { ...WIDGET_PARAMS, seed: second.seed }));
  await savePageShot(page, info, 'widget-on-another-origin');
});

test("the page's CSS does not reach into the widget, nor the widget's CSS out into the page", async ({ browser }, info) => {
  const open = async (options: { css: boolean; widget: boolean }) => {
    const page = await browser.newPage();
    await openHost(page, options);
    if (options.widget) await askWidget(page, 'Hi');
    return page;
  };
  const plain = await open({ css: false, widget: true });
  const styled = await open({ css: true, widget: true });
  const plainNoWidget = await open({ css: false, widget: false });
  const styledNoWidget = await open({ css: true, widget: false });

  // In: the widget looks the same on a page with and without the host's CSS, and its own styles are applied.
  const widgetPlain = await stylesOf(plain, 'widget', WIDGET_PARTS);
  expect(await stylesOf(styled, 'widget', WIDGET_PARTS)).toEqual(widgetPlain);
  expect(widgetPlain['button.send']?.['background-color']).toBe('rgb(10, 108, 189)');
  expect(widgetPlain['.frame']?.['font-family']).toMatch(/system-ui/);
  // The host's CSS does apply to the host's own elements of the same names (the comparison above can fail).
  expect((await stylesOf(styled, 'page', ['#host-button']))['#host-button']?.['background-color']).toBe('rgb(255, 255, 0)');

  // Out: the page's elements look the same with and without the widget, with and without the page's CSS.
  expect(await stylesOf(plain, 'page', HOST_PARTS)).toEqual(await stylesOf(plainNoWidget, 'page', HOST_PARTS));
  expect(await stylesOf(styled, 'page', HOST_PARTS)).toEqual(await stylesOf(styledNoWidget, 'page', HOST_PARTS));
  for (const page of [plain, styled]) expect(await page.evaluate(() => document.querySelectorAll('style, link[rel="stylesheet"]').length)).toBe(page === styled ? 1 : 0);
  await savePageShot(styled, info, 'widget-on-an-aggressive-page');
  await Promise.all([plain, styled, plainNoWidget, styledNoWidget].map((p) => p.close()));
});

test('window.Dolphin.stream streams deltas without the UI; bad input and an unknown model get clear errors', async ({ page }) => {
  await openHost(page, { css: false, widget: true });
  const messages: PlainMessage[] = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Stream me something' }];
  const before = await jobsServed();
  const { deltas, result } = await page.evaluate(async (messages) => {
    const deltas: string[] = [];
    const result = await window.Dolphin!.stream({ messages, max_tokens: 24, temperature: 0.8, seed: 4242 }, (d) => deltas.push(d));
    return { deltas, result };
  }, messages);
  expect(deltas.length).toBeGreaterThan(1);
  expect(deltas.join('')).toBe(result.text);
  expect(result).toMatchObject({ model: MODEL, seed: 4242, backend: 'wasm' });
  expect(result.text).toBe(await referenceText(messages, { maxTokens: 24, temperature: 0.8, topP: 1, seed: 4242 }));
  expect(await jobsServed()).toBeGreaterThan(before);

  const complete = await page.evaluate((messages) => window.Dolphin!.complete({ messages, max_tokens: 24, temperature: 0.8, seed: 4242 }), messages);
  expect(complete.text).toBe(result.text);

  const errors = await page.evaluate(async () => {
    const caught = async (work: () => Promise<unknown>) => {
      try {
        await work();
        return null;
      } catch (e) {
        const error = e as Error & { status?: number; code?: string };
        return { name: error.name, message: error.message, status: error.status ?? null, code: error.code ?? null, isDolphinError: e instanceof window.Dolphin!.Error };
      }
    };
    const Dolphin = window.Dolphin!;
    return {
      empty: await caught(() => Dolphin.stream({ messages: [] }, () => {})),
      noDelta: await caught(() => (Dolphin.stream as (i: unknown) => Promise<unknown>)({ messages: [{ role: 'user', content: 'x' }] })),
      unknownModel: await caught(() => Dolphin.complete({ messages: [{ role: 'user', content: 'x' }], model: 'no-such-model' })),
    };
  });
  expect(errors.empty).toEqual({ name: 'TypeError', message: 'Dolphin: messages must be a non-empty array of { role, content }', status: null, code: null, isDolphinError: false });
  expect(errors.noDelta).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/needs onDelta/) });
  expect(errors.unknownModel).toMatchObject({ name: 'ChatStreamError', status: 404, code: 'model_not_found', isDolphinError: true });
});

type Limits = { paused: boolean; models: string[] | null; share: number };
type NetworkTab = { id: string; contributorId: string | null; models: string[]; contributorLimits: Limits };
const networkTabs = async (request: APIRequestContext) => ((await (await request.get('/api/network')).json()) as { tabs: NetworkTab[] }).tabs;

/** Pauses or resumes the test's own contributor tab, as its page would, and waits until the coordinator shows it. */
async function setPaused(request: APIRequestContext, paused: boolean): Promise<void> {
  const limits: Limits = { paused, models: null, share: 1 };
  const id = /as (tab-\d+)/.exec(await tab.page.getByTestId('status').innerText())?.[1];
  await tab.page.evaluate((l) => (window as unknown as { dolphin: { link(): { setLimits(l: Limits): void } } }).dolphin.link().setLimits(l), limits);
  await expect.poll(async () => (await networkTabs(request)).find((t) => t.id === id)?.contributorLimits).toEqual(limits);
}

test('a site that frames the contribute page with autostart gets nothing started: the visitor must agree in the frame', async ({ page, request }) => {
  const before = new Set((await networkTabs(request)).map((t) => t.id));
  await page.goto(`${hostOrigin}/framed`);
  const lending = page.locator('iframe').contentFrame().getByRole('region', { name: 'Lend this device to Dolphin' });
  // Once the page could start (its device probe and identity are done; autostart would have run then), it still
  // waits for the visitor, unagreed.
  await expect(lending).toHaveAttribute('data-ready', 'true');
  await expect(lending).toHaveAttribute('data-phase', 'idle');
  await expect(lending.getByRole('checkbox', { name: 'I agree to run these jobs on this device' })).not.toBeChecked();
  await expect(lending.getByRole('button', { name: 'Start lending' })).toBeDisabled();
  expect((await networkTabs(request)).filter((t) => !before.has(t.id))).toEqual([]);
});

test('"Lend my GPU", off until the visitor ticks it, makes their tab a contributor that serves and earns for the site; unticking stops it', async ({ page, request }, info) => {
  test.setTimeout(300_000);
  await page.setViewportSize({ width: 390, height: 844 });
  await openHost(page, { css: false, widget: true });
  const widget = page.locator('dolphin-chat');
  const lend = widget.getByRole('checkbox', { name: 'Lend my GPU while this page is open' });
  await expect(lend).not.toBeChecked();
  await expect(widget.locator('iframe')).toHaveCount(0);
  const before = new Set((await networkTabs(request)).map((t) => t.id));

  await lend.focus();
  await page.keyboard.press('Space');
  await expect(lend).toBeChecked();
  await expect(widget.getByRole('status')).toHaveText(/agree and press Start lending/);
  // The visitor agrees and starts on the coordinator's own page, in the frame: nothing ran before that.
  const frame = widget.locator('iframe').contentFrame();
  const start = frame.getByRole('button', { name: 'Start lending' });
  await expect(start).toBeDisabled();
  expect((await networkTabs(request)).filter((t) => !before.has(t.id))).toEqual([]);
  await frame.getByRole('checkbox', { name: 'I agree to run these jobs on this device' }).check();
  await start.click();
  await expect(widget.getByRole('status')).toHaveText(/Lending/);
  let lent: NetworkTab | undefined;
  await expect
    .poll(async () => {
      lent = (await networkTabs(request)).find((t) => !before.has(t.id) && t.models.includes(MODEL));
      return lent?.id;
    }, { timeout: 120_000 })
    .toBeTruthy();
  // On a phone-sized screen the widget, its consent text included, fits the width.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await savePageShot(page, info, 'widget-lending');

  // With the test's own tab paused, the visitor's tab is the only one that may serve: it does.
  await setPaused(request, true);
  try {
    const response = await request.post('/v1/chat/completions', { headers: { Authorization: `Bearer ${apiKey}` }, data: { model: MODEL, messages: [{ role: 'user', content: 'Served by a visitor?' }], max_tokens: 4 } });
    expect(response.status()).toBe(200);
    expect(response.headers()['x-dolphin-tab']).toBe(lent?.id);
  } finally {
    await setPaused(request, false);
  }
  // The frame tells the widget how it does (postMessage, from that frame only): serving, as that tab, one job.
  await expect(widget.getByRole('status')).toHaveText(new RegExp(`^Lending: serving on the (GPU|CPU) as ${lent?.id}, 1 job served\\.$`));
  // A new identity's job is audited (here by the test's own tab); once it passes, its reward matures into the
  // site's account, not the visitor's identity.
  type History = { data: Array<{ kind: string; amount: { micros: number } }> };
  const matured = async () => ((await (await request.get('/api/account/history?limit=100', { headers: { Authorization: `Bearer ${apiKey}` } })).json()) as History).data.filter((e) => e.kind === 'mature');
  // (A cross-site frame gets no WebRTC here, so its transcript reaches the verifier only once the mesh gives up: ~1 min.)
  await expect.poll(async () => (await matured()).length, { timeout: 150_000 }).toBe(1);
  expect((await matured())[0]?.amount.micros).toBeGreaterThan(0);
  const visitor = (await (await request.get(`/api/contributors/${lent?.contributorId}`)).json()) as { dphn: { pending: { micros: number } } };
  expect(visitor.dphn.pending.micros).toBe(0);
  const own = (await (await request.get(`/api/contributors/${lent?.contributorId}/history?bucket=available&limit=100`)).json()) as History;
  expect(own.data.filter((e) => e.kind === 'mature')).toEqual([]);

  await lend.press('Space');
  await expect(lend).not.toBeChecked();
  await expect(widget.locator('iframe')).toHaveCount(0);
  await expect.poll(async () => (await networkTabs(request)).some((t) => t.id === lent?.id)).toBe(false);
});
