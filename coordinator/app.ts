/**
 * The coordinator's HTTP surface, built from injected services so tests can call `app.request()` without a port.
 * One origin serves the API (/v1), the tab link (/tabs), PeerJS signalling (/peerjs), network status (/api), model files (/models),
 * onnxruntime-web's wasm (/ort) and the web app.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { UpgradeWebSocket } from 'hono/ws';
import { serveStatic } from '@hono/node-server/serve-static';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import type { ModelObject } from '../src/protocol/api.ts';
import { chatCompletionsHandler } from './api/chat-completions.ts';
import { batchRoutes } from './api/batch-routes.ts';
import { BatchRunner } from './batches/batch-runner.ts';
import { randomUUID } from 'node:crypto';
import { ApiError, modelNotFound, notFound, toApiError } from './api/errors.ts';
import type { JobBoard } from './jobs/job-board.ts';
import type { CatalogueModel, ModelCatalogue } from './models/catalogue.ts';
import type { Tab, TabRegistry } from './tabs/tab-registry.ts';
import { tabWebSocketHandler } from './transport/tab-websocket.ts';
import type { TabWebRtcOptions } from './transport/tab-webrtc.ts';
import { peerjsRoutes } from './signalling/peerjs-routes.ts';
import { auditRoutes } from './api/audit-routes.ts';
import { networkRoutes } from './api/network-routes.ts';
import type { NetworkFeed } from './stats/network-feed.ts';
import type { AuditBook } from './trust/audit-book.ts';
import type { AuditDesk } from './trust/audit-desk.ts';
import type { SignallingServer } from './signalling/signalling-server.ts';
import type { Context } from 'hono';
import type { EconomyView } from '../src/protocol/accounts.ts';
import type { Store } from './ledger/economy-store.ts';
import type { Billing } from './ledger/billing.ts';
import type { ContributorAccounts } from './ledger/contributor-accounts.ts';
import { priceOf, type PriceTable } from './ledger/pricing.ts';
import { requireApiKey, type AuthEnv } from './api/auth.ts';
import { accountRoutes } from './api/account-routes.ts';
import { contributorRoutes } from './api/contributor-routes.ts';
import { RateLimitedError } from './api/errors.ts';
import type { RateLimiter } from './api/rate-limit.ts';
import { amount } from './api/views.ts';
import type { PlainMessage } from '../src/protocol/api.ts';
import { APP_PAGES } from '../src/protocol/pages.ts';

export interface AppDeps {
  catalogue: ModelCatalogue;
  registry: TabRegistry;
  board: JobBoard;
  /** Audits of finished jobs and the record they build (issue #4). */
  audits: { desk: AuditDesk; book: AuditBook };
  /** The network page's history and live samples (issue #7). */
  network: NetworkFeed;
  upgradeWebSocket: UpgradeWebSocket;
  /** PeerJS signalling, served at /peerjs with this key. */
  signalling: { server: SignallingServer; key: string };
  /** How tab sessions move to WebRTC data channels, once the coordinator's peer is up; undefined: WebSocket only. */
  webrtc?: () => TabWebRtcOptions | undefined;
  /** The built web app (vite build output). */
  webDir: string;
  /** onnxruntime-web's dist folder, served at /ort/. */
  ortDir: string;
  /** What the economy hears of tab sessions (accepted from an address, closed). */
  tabEvents?: { onAccepted?: (tab: Tab, address: string) => void; onClosed?: (tab: Tab) => void };
  /** DPHN (issue #5): the store, billing of requests, contributors' money, and what they are configured with. */
  economy: EconomyDeps;
  randomSeed: () => number;
  log: (message: string) => void;
}

export interface EconomyDeps {
  store: Store;
  billing: Billing;
  contributors: ContributorAccounts;
  countPromptTokens: (model: string, messages: PlainMessage[]) => number | null;
  /** The demo key's requests per client address. */
  demoLimiter: RateLimiter;
  /** New accounts (with starter credits) per client address. */
  faucetLimiter: RateLimiter;
  /** µDPHN each new account starts with. */
  starterCredits: number;
  clientAddress: (c: Context) => string;
  prices: PriceTable;
  /** The lowest audit probability: the minimum stake of an identity past probation is computed at it. */
  pMin: number;
  contributorSharePpm: number;
  settlementWindowMs: number;
  unbondingMs: number;
  now: () => number;
}

const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** Account and stake requests are a few fields: nothing under /api needs more. */
const MAX_API_BODY_BYTES = 16 * 1024;
const SPA_ROUTES = APP_PAGES;
/** The embeddable chat widget (src/widget/), built into the web app's folder. */
const WIDGET_PATH = '/widget.js';

export function createApp(deps: AppDeps): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  const { economy } = deps;

  // Cross-origin isolation gives the page SharedArrayBuffer, which multi-threaded WASM inference needs.
  // The API and the embeddable widget are meant for other origins; everything else stays same-origin.
  app.use('*', async (c, next) => {
    await next();
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Embedder-Policy', 'require-corp');
    c.header('Cross-Origin-Resource-Policy', c.req.path.startsWith('/v1/') || c.req.path === WIDGET_PATH ? 'cross-origin' : 'same-origin');
  });
  // Any site may load widget.js (its URL never changes, so it is cached briefly and revalidated).
  app.use(WIDGET_PATH, async (c, next) => {
    await next();
    if (!c.res.ok) return;
    c.header('Access-Control-Allow-Origin', '*');
    c.header('Cache-Control', 'public, max-age=300, must-revalidate');
  });

  app.use('/v1/*', cors({ origin: '*', allowHeaders: ['Authorization', 'Content-Type'], exposeHeaders: ['x-dolphin-tab', 'x-dolphin-contributor', 'x-dolphin-backend', 'x-dolphin-transport', 'x-dolphin-seed', 'Retry-After'] }));
  const auth = (allowDemo: boolean) => requireApiKey({ requesters: economy.store.requesters, demoLimiter: economy.demoLimiter, clientAddress: economy.clientAddress, allowDemo });
  app.use('/v1/*', auth(true));

  const modelObject = (m: CatalogueModel): ModelObject => ({ id: m.id, object: 'model', created: m.created, owned_by: 'dolphin' });
  app.get('/v1/models', (c) => c.json({ object: 'list', data: deps.catalogue.list().map(modelObject) }));
  app.get('/v1/models/:id', (c) => {
    const m = deps.catalogue.get(c.req.param('id'));
    if (!m) throw modelNotFound(c.req.param('id'));
    return c.json(modelObject(m));
  });
  app.post(
    '/v1/chat/completions',
    bodyLimit({
      maxSize: MAX_REQUEST_BYTES,
      onError: (c) => c.json(new ApiError(413, 'invalid_request_error', `The request body exceeds ${MAX_REQUEST_BYTES} bytes.`, 'request_too_large').toBody(), 413),
    }),
    chatCompletionsHandler({ ...deps, billing: economy.billing, countPromptTokens: economy.countPromptTokens }),
  );

  const batches = new BatchRunner({
    complete: async (body, owner, signal) => {
      const response = await app.request('/v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: owner.authorization }, body: JSON.stringify(body), signal });
      const retryAfter = Number(response.headers.get('Retry-After'));
      return { status: response.status, body: await response.json(), ...(retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}) };
    },
    load: (model) => deps.board.load(model),
    now: economy.now,
    newId: () => randomUUID().replaceAll('-', ''),
  });
  app.route('/v1/batches', batchRoutes(batches));

  app.get('/tabs', tabWebSocketHandler(deps.upgradeWebSocket, { registry: deps.registry, board: deps.board, audits: deps.audits.desk, knownModels: () => deps.catalogue.ids(), log: deps.log, webrtc: deps.webrtc, clientAddress: economy.clientAddress, ...deps.tabEvents }));

  app.route('/peerjs', peerjsRoutes(deps.upgradeWebSocket, deps.signalling.server, deps.signalling.key));

  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_API_BODY_BYTES,
      onError: (c) => c.json(new ApiError(413, 'invalid_request_error', `The request body exceeds ${MAX_API_BODY_BYTES} bytes.`, 'request_too_large').toBody(), 413),
    }),
  );
  app.get('/api/network', async (c) => {
    const totals = await economy.store.ledger.totals();
    const dphn: EconomyView = {
      supply: amount(totals.supply),
      treasury: amount(totals.treasury),
      staked: amount(totals.staked),
      pending: amount(totals.pending),
      prices: deps.catalogue.list().map((m) => {
        const price = priceOf(economy.prices, m.id);
        return { model: m.id, prompt_per_1k: amount(price.promptPer1K), completion_per_1k: amount(price.completionPer1K), minimum_stake: amount(economy.contributors.minimumStakeAt(m.id, economy.pMin)) };
      }),
      contributor_share: economy.contributorSharePpm / 1e6,
      settlement_window_ms: economy.settlementWindowMs,
      unbonding_ms: economy.unbondingMs,
    };
    return c.json({ models: deps.catalogue.list().map((m) => ({ id: m.id, parameters: m.manifest.parameters ?? null, bytes: m.manifest.files.reduce((n, f) => n + f.size, 0) })), tabs: deps.registry.status(), runningJobs: deps.board.size, dphn });
  });

  app.route('/api', auditRoutes(deps.audits.book));
  app.route('/api', networkRoutes({ feed: deps.network, book: deps.audits.book, clientAddress: economy.clientAddress }));
  app.route('/api', accountRoutes({ store: economy.store, auth: auth(false), starterCredits: economy.starterCredits, faucetLimiter: economy.faucetLimiter, clientAddress: economy.clientAddress }));
  app.route('/api', contributorRoutes({ book: deps.audits.book, accounts: economy.contributors, ledger: economy.store.ledger, models: () => deps.catalogue.list().map((m) => m.id), now: economy.now }));

  // Model files: only manifest.json and the files it lists, nothing else from the folder.
  // Streamed from disk: real model files run to hundreds of megabytes.
  app.get('/models/:id/:path{.+}', async (c) => {
    const model = deps.catalogue.get(c.req.param('id'));
    const path = c.req.param('path');
    const listed = model?.manifest.files.find((f) => f.path === path);
    if (!model || (path !== 'manifest.json' && !listed)) return c.text('not found', 404);
    const file = join(model.dir, path);
    const size = await stat(file).then((s) => s.size, () => null);
    if (size === null) return c.text('not found', 404);
    c.header('Cache-Control', 'no-cache');
    c.header('Content-Type', path.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    c.header('Content-Length', String(size));
    if (listed) c.header('ETag', `"${listed.sha256}"`);
    return c.body(Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>);
  });

  app.use('/ort/*', serveStatic({ root: deps.ortDir, rewriteRequestPath: (p) => p.replace(/^\/ort/, '') }));
  app.use('/*', serveStatic({ root: deps.webDir }));
  for (const route of SPA_ROUTES) app.get(route, serveStatic({ root: deps.webDir, path: 'index.html' }));

  app.notFound((c) => (c.req.path.startsWith('/v1/') || c.req.path.startsWith('/api/') ? c.json(notFound(c.req.method, c.req.path).toBody(), 404) : c.text('not found', 404)));
  app.onError((error, c) => {
    if (error instanceof HTTPException && !(error.cause instanceof ApiError)) return error.getResponse();
    const apiError = toApiError(error instanceof HTTPException ? error.cause : error);
    if (!(error instanceof ApiError)) deps.log(`error on ${c.req.method} ${c.req.path}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (apiError instanceof RateLimitedError) c.header('Retry-After', String(apiError.retryAfterSeconds));
    return c.json(apiError.toBody(), apiError.status);
  });
  return app;
}
