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
import { ApiError, modelNotFound, notFound, toApiError } from './api/errors.ts';
import type { JobBoard } from './jobs/job-board.ts';
import type { CatalogueModel, ModelCatalogue } from './models/catalogue.ts';
import type { TabRegistry } from './tabs/tab-registry.ts';
import { tabWebSocketHandler } from './transport/tab-websocket.ts';
import type { TabWebRtcOptions } from './transport/tab-webrtc.ts';
import { peerjsRoutes } from './signalling/peerjs-routes.ts';
import { auditRoutes } from './api/audit-routes.ts';
import type { AuditBook } from './trust/audit-book.ts';
import type { AuditDesk } from './trust/audit-desk.ts';
import type { SignallingServer } from './signalling/signalling-server.ts';

export interface AppDeps {
  catalogue: ModelCatalogue;
  registry: TabRegistry;
  board: JobBoard;
  /** Audits of finished jobs and the record they build (issue #4). */
  audits: { desk: AuditDesk; book: AuditBook };
  upgradeWebSocket: UpgradeWebSocket;
  /** PeerJS signalling, served at /peerjs with this key. */
  signalling: { server: SignallingServer; key: string };
  /** How tab sessions move to WebRTC data channels, once the coordinator's peer is up; undefined: WebSocket only. */
  webrtc?: () => TabWebRtcOptions | undefined;
  /** The built web app (vite build output). */
  webDir: string;
  /** onnxruntime-web's dist folder, served at /ort/. */
  ortDir: string;
  randomSeed: () => number;
  log: (message: string) => void;
}

const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const SPA_ROUTES = ['/', '/chat'];

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  // Cross-origin isolation gives the page SharedArrayBuffer, which multi-threaded WASM inference needs.
  // The API is meant to be called from other origins; everything else stays same-origin.
  app.use('*', async (c, next) => {
    await next();
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Embedder-Policy', 'require-corp');
    c.header('Cross-Origin-Resource-Policy', c.req.path.startsWith('/v1/') ? 'cross-origin' : 'same-origin');
  });

  app.use('/v1/*', cors({ origin: '*', allowHeaders: ['Authorization', 'Content-Type'], exposeHeaders: ['x-dolphin-tab', 'x-dolphin-backend', 'x-dolphin-transport', 'x-dolphin-seed'] }));

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
    chatCompletionsHandler(deps),
  );

  app.get('/tabs', tabWebSocketHandler(deps.upgradeWebSocket, { registry: deps.registry, board: deps.board, audits: deps.audits.desk, knownModels: () => deps.catalogue.ids(), log: deps.log, webrtc: deps.webrtc }));

  app.route('/peerjs', peerjsRoutes(deps.upgradeWebSocket, deps.signalling.server, deps.signalling.key));

  app.get('/api/network', (c) =>
    c.json({ models: deps.catalogue.list().map((m) => ({ id: m.id, parameters: m.manifest.parameters ?? null, bytes: m.manifest.files.reduce((n, f) => n + f.size, 0) })), tabs: deps.registry.status(), runningJobs: deps.board.size }),
  );

  app.route('/api', auditRoutes(deps.audits.book));

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

  app.notFound((c) => (c.req.path.startsWith('/v1/') ? c.json(notFound(c.req.method, c.req.path).toBody(), 404) : c.text('not found', 404)));
  app.onError((error, c) => {
    if (error instanceof HTTPException && !(error.cause instanceof ApiError)) return error.getResponse();
    const apiError = toApiError(error instanceof HTTPException ? error.cause : error);
    if (!(error instanceof ApiError)) deps.log(`error on ${c.req.method} ${c.req.path}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return c.json(apiError.toBody(), apiError.status);
  });
  return app;
}
