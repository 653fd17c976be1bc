/**
 * Starts the coordinator: reads configuration from the environment, composes the services and serves the app.
 *   PORT (8787)  HOST (127.0.0.1)  MODELS_DIR (models)  WEB_DIR (dist)  TAB_IDLE_TIMEOUT_MS (60000)  PEERJS_KEY (dolphin)
 */
import { serve, upgradeWebSocket } from '@hono/node-server';
import { WebSocketServer } from 'ws';
import { randomInt } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { MAX_TAB_MESSAGE_CHARS } from '../src/protocol/tab.ts';
import { createApp } from './app.ts';
import { JobBoard } from './jobs/job-board.ts';
import { loadCatalogue } from './models/catalogue.ts';
import { TabRegistry } from './tabs/tab-registry.ts';
import { SIGNALLING_DEFAULTS, SignallingServer } from './signalling/signalling-server.ts';

const env = process.env;
const port = Number(env.PORT ?? 8787);
const host = env.HOST ?? '127.0.0.1';
const log = (message: string) => console.log(`[coordinator] ${message}`);

const catalogue = await loadCatalogue(resolve(env.MODELS_DIR ?? 'models'), log);
if (catalogue.list().length === 0) log('warning: no models found; run `npm run models` first');
const registry = new TabRegistry();
const board = new JobBoard({ registry, idleTimeoutMs: Number(env.TAB_IDLE_TIMEOUT_MS ?? 60_000), log });
const peerjsKey = env.PEERJS_KEY ?? 'dolphin';
const signalling = new SignallingServer({ ...SIGNALLING_DEFAULTS, key: peerjsKey, now: Date.now, log });
const sweepTimer = setInterval(() => signalling.sweep(), 1000);
const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));

const app = createApp({
  catalogue,
  registry,
  board,
  upgradeWebSocket,
  signalling: { server: signalling, key: peerjsKey },
  webDir: resolve(env.WEB_DIR ?? 'dist'),
  ortDir,
  randomSeed: () => randomInt(2 ** 48 - 1),
  log,
});

// ws buffers a whole frame before we see it; cap frames at the largest valid tab message (UTF-8 worst case).
const wss = new WebSocketServer({ noServer: true, maxPayload: 3 * MAX_TAB_MESSAGE_CHARS });
const server = serve({ fetch: app.fetch, port, hostname: host, websocket: { server: wss } }, (info) => {
  log(`listening on http://${host === '0.0.0.0' ? 'localhost' : host}:${info.port} with models [${catalogue.list().map((m) => m.id).join(', ')}]`);
});

// Open tab sockets and SSE streams would keep server.close() waiting forever: end them first.
function shutdown() {
  clearInterval(sweepTimer);
  signalling.closeAll();
  for (const socket of wss.clients) socket.terminate();
  if ('closeAllConnections' in server) server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(1), 5000).unref();
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, shutdown);
