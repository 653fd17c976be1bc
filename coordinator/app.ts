/**
 * The coordinator's HTTP surface, built from injected services so tests can call `app.request()` without a port.
 * One origin serves the API (/v1), the tab link (/tabs), network status (/api), model files (/models),
 * onnxruntime-web's wasm (/ort) and the web app.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { UpgradeWebSocket } from 'hono/ws';
import { serveStatic } from '@hono/node-server/serve-static';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelObject } from '../src/protocol/api.ts';
import { chatCompletionsHandler } from './api/chat-completions.ts';
import { ApiError, notFound, toApiError } from './api/errors.ts';
import type { JobBoard } from './jobs/job-board.ts';
import type { ModelCatalogue } from './models/catalogue.ts';
import type { TabRegistry } from './tabs/tab-registry.ts';
import { tabWebSocketHandler } from './transport/tab-websocket.ts';

export interface AppDeps {
  catalogue: ModelCatalogue;
  registry: TabRegistry;
  board: JobBoard;
  upgradeWebSocket: UpgradeWebSocket;
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
  app.use('*', async (c, next) => {
    await next();
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Embedder-Policy', 'require-corp');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
  });

  app.use('/v1/*', cors({ origin: '*', allowHeaders: ['Authorization', 'Content-Type'], exposeHeaders: ['x-dolphin-tab', 'x-dolphin-backend', 'x-dolphin-seed'] }));
  app.use('/v1/*', async (c, next) => {
    await next();
    c.header('Cross-Origin-Resource-Policy', 'cross-origin');
  });

  app.get('/v1/models', (c) => {
    const data: ModelObject[] = deps.catalogue.list().map((m) => ({ id: m.id, object: 'model', created: m.created, owned_by: 'dolphin' }));
    return c.json({ object: 'list', data });
  });
  app.get('/v1/models/:id', (c) => {
    const m = deps.catalogue.get(c.req.param('id'));
    if (!m) throw new ApiError(404, 'invalid_request_error', `The model '${c.req.param('id')}' does not exist on this network.`, 'model_not_found', 'model');
    return c.json({ id: m.id, object: 'model', created: m.created, owned_by: 'dolphin' } satisfies ModelObject);
  });
  app.post(
    '/v1/chat/completions',
    bodyLimit({ maxSize: MAX_REQUEST_BYTES, onError: () => { throw new ApiError(413, 'invalid_request_error', `The request body exceeds ${MAX_REQUEST_BYTES} bytes.`, 'request_too_large'); } }),
    chatCompletionsHandler(deps),
  );

  app.get('/tabs', tabWebSocketHandler(deps.upgradeWebSocket, { registry: deps.registry, board: deps.board, knownModels: () => deps.catalogue.ids(), log: deps.log }));

  app.get('/api/network', (c) =>
    c.json({ models: deps.catalogue.list().map((m) => ({ id: m.id, parameters: m.manifest.parameters ?? null, bytes: m.manifest.files.reduce((n, f) => n + f.size, 0) })), tabs: deps.registry.status(), runningJobs: deps.board.size }),
  );

  // Model files: only manifest.json and the files it lists, nothing else from the folder.
  app.get('/models/:id/:path{.+}', async (c) => {
    const model = deps.catalogue.get(c.req.param('id'));
    const path = c.req.param('path');
    if (!model || (path !== 'manifest.json' && !model.manifest.files.some((f) => f.path === path))) return c.text('not found', 404);
    const bytes = await readFile(join(model.dir, path));
    c.header('Cache-Control', 'no-cache');
    c.header('Content-Type', path.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    return c.body(bytes);
  });

  app.use('/ort/*', serveStatic({ root: deps.ortDir, rewriteRequestPath: (p) => p.replace(/^\/ort/, '') }));
  app.use('/*', serveStatic({ root: deps.webDir }));
  for (const route of SPA_ROUTES) app.get(route, serveStatic({ root: deps.webDir, path: 'index.html' }));

  app.notFound((c) => (c.req.path.startsWith('/v1/') ? c.json(notFound(c.req.path).toBody(), 404) : c.text('not found', 404)));
  app.onError((error, c) => {
    if (error instanceof HTTPException && !(error.cause instanceof ApiError)) {
      const apiError = new ApiError(error.status as 400, 'invalid_request_error', error.message);
      return c.json(apiError.toBody(), apiError.status);
    }
    const apiError = toApiError(error);
    if (!(error instanceof ApiError)) deps.log(`error on ${c.req.method} ${c.req.path}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return c.json(apiError.toBody(), apiError.status);
  });
  return app;
}
