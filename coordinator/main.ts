/**
 * Starts the coordinator: reads configuration from the environment, composes the services and serves the app.
 *   PORT (8787)  HOST (127.0.0.1)  WEB_DIR (dist)  TAB_IDLE_TIMEOUT_MS (60000)  PEERJS_KEY (dolphin)
 *   MODELS_DIR (models; a list separated by ':' (';' on Windows), e.g. models:test-models — first dir wins an id)
 *   WEBRTC (1; 0 keeps tabs on WebSockets)  ICE_SERVERS (JSON list of RTCIceServer, default [])
 *   WEBRTC_BIND_ADDRESS (the local address the coordinator's ICE uses; default all interfaces)
 *   AUDIT_PROBATION (10: jobs of a new identity audited until this many passes in a row)  AUDIT_P_MIN (0.05: the
 *   lowest audit rate)  AUDIT_PLANT_RATE (0.05: chance per job of planting a known-bad or known-good transcript with a verifier)
 *   AUDIT_VERDICT_TIMEOUT_MS (120000)
 *   QUEUE_PER_MODEL (64: requests of one model waiting for a tab; more get 429 with Retry-After)
 *   MAX_FAILOVERS (2: times a job whose tab left or went silent continues on another tab)
 *   HEDGE_AFTER_MS (10000: a job with no first token by then also goes to a second idle tab; 0: never)
 *   NETWORK_SAMPLE_MS (2000: how often the network page's feed samples the network)  NETWORK_HISTORY_MS (600000: how
 *   far back its history goes)
 *   DATA_DIR (data) and the economy's settings (prices, shares, windows, faucets): see economy.ts
 */
import { serve, upgradeWebSocket } from '@hono/node-server';
import { WebSocketServer } from 'ws';
import { randomBytes, randomInt } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { MAX_TAB_MESSAGE_CHARS, webRtcInvitationSchema } from '../src/protocol/tab.ts';
import { startCoordinatorPeer } from './transport/coordinator-peer.ts';
import type { TabWebRtcOptions } from './transport/tab-webrtc.ts';
import { createApp } from './app.ts';
import { JobBoard } from './jobs/job-board.ts';
import { loadCatalogue, loadTokenizer, modelDirList } from './models/catalogue.ts';
import { modelSizeOf } from './schedule/tab-capabilities.ts';
import { PieceBook, streamCheck } from './jobs/stream-check.ts';
import { TabRegistry } from './tabs/tab-registry.ts';
import { SIGNALLING_DEFAULTS, SignallingServer } from './signalling/signalling-server.ts';
import { AuditBook } from './trust/audit-book.ts';
import { AuditDesk } from './trust/audit-desk.ts';
import { DEFAULT_AUDIT_POLICY } from './trust/audit-policy.ts';
import { DEFAULT_PLANT_RATE } from './trust/audit-decision.ts';
import { VERIFICATION_TOLERANCES } from './trust/tolerances.ts';
import { numberSetting } from './settings.ts';
import { openSqliteStore } from './store/sqlite-store.ts';
import { createEconomy, economySettings } from './economy.ts';
import type { JobAudit } from '../src/protocol/audits.ts';
import { NetworkHistory } from './stats/network-history.ts';
import { NetworkFeed } from './stats/network-feed.ts';

const env = process.env;
const port = numberSetting(env, 'PORT', 8787, { min: 0, max: 65535, integer: true });
const host = env.HOST ?? '127.0.0.1';
const log = (message: string) => console.log(`[coordinator] ${message}`);

const catalogue = await loadCatalogue(modelDirList(env.MODELS_DIR ?? 'models').map((dir) => resolve(dir)), log);
if (catalogue.list().length === 0) log('warning: no models found; run `npm run models` first');
const registry = new TabRegistry();
const policy = {
  probation: numberSetting(env, 'AUDIT_PROBATION', DEFAULT_AUDIT_POLICY.probation, { min: 0, max: 1e6, integer: true }),
  // Above zero: the minimum stake is about gain / p.
  pMin: numberSetting(env, 'AUDIT_P_MIN', DEFAULT_AUDIT_POLICY.pMin, { min: 0.001, max: 1 }),
};
const economy = economySettings(env);
const dbPath = resolve(env.DATA_DIR ?? 'data', 'dolphin.db');
const store = openSqliteStore({ path: dbPath });
log(`data in ${dbPath}`);
// Audit records survive restarts: identities (audit rate, verifier trust, reputation) and the latest decided audits.
const book = new AuditBook(policy, () => new Date(), {
  reputationHalfLifeMs: economy.reputationHalfLifeMs,
  restore: { identities: await store.trust.identities(), audits: (await store.trust.recentAudits(10_000)).recent.map((body) => JSON.parse(body) as JobAudit).reverse() },
  persist: {
    identity: (id, record, version) => void store.trust.saveIdentity(id, record, version).catch((error: unknown) => log(`saving ${id}'s record failed: ${String(error)}`)),
    decided: (a) => void store.trust.saveAudit({ jobId: a.jobId, contributorId: a.contributorId, status: a.status, body: JSON.stringify(a), decidedAt: a.decidedAt ?? new Date().toISOString() }).catch((error: unknown) => log(`saving the audit of ${a.jobId} failed: ${String(error)}`)),
  },
});
// Each model's tokenizer, so the board can check that what tabs stream is what their token ids decode to, and
// requests are quoted on their exact prompt length.
const pieceBooks = new Map<string, PieceBook>();
for (const model of catalogue.list()) {
  await loadTokenizer(model).then(
    (tokenizer) => pieceBooks.set(model.id, new PieceBook(tokenizer, model.config.vocab_size, model.config.max_position_embeddings)),
    (error: unknown) => log(`${model.id}: no tokenizer (${error instanceof Error ? error.message : String(error)}); its streamed text goes unchecked`),
  );
}
// The network page's feed: the board tells the history of tokens as they stream and of every job's end; the feed
// samples on its own timer.
const sampleMs = numberSetting(env, 'NETWORK_SAMPLE_MS', 2000, { min: 100, max: 60_000, integer: true });
const historyMs = numberSetting(env, 'NETWORK_HISTORY_MS', 600_000, { min: sampleMs, max: 24 * 3600_000, integer: true });
// At most 3,600 samples: every live connection starts with all of them.
const networkHistory = new NetworkHistory({ capacity: Math.min(3600, Math.ceil(historyMs / sampleMs)), startedAt: Date.now() });
let board: JobBoard | undefined;
const wiring = await createEconomy({
  store,
  settings: economy,
  catalogue,
  book,
  pMin: policy.pMin,
  countPromptTokens: (model, messages) => pieceBooks.get(model)?.tokenizer.encodeChat(messages).length ?? null,
  changed: () => board?.dispatchWaiting(),
  jobRunning: (jobId) => board?.running(jobId) ?? false,
  log,
});
const desk = new AuditDesk({
  listener: {
    ...wiring.audits,
    decided: (d) => {
      wiring.audits.decided(d);
      for (const tab of registry.setReputation(d.workerId, book.reputation(d.workerId))) board?.tabChanged(tab);
    },
  },
  registry,
  book,
  policy,
  tolerances: VERIFICATION_TOLERANCES,
  plantRate: numberSetting(env, 'AUDIT_PLANT_RATE', DEFAULT_PLANT_RATE, { min: 0, max: 1 }),
  random: Math.random,
  verdictTimeoutMs: numberSetting(env, 'AUDIT_VERDICT_TIMEOUT_MS', 120_000, { min: 1000, max: 3_600_000, integer: true }),
  pendingTimeoutMs: 10 * 60_000,
  log,
});
board = new JobBoard({
  ...wiring.board,
  registry,
  idleTimeoutMs: numberSetting(env, 'TAB_IDLE_TIMEOUT_MS', 60_000, { min: 1000, max: 3_600_000, integer: true }),
  maxWaitingPerModel: numberSetting(env, 'QUEUE_PER_MODEL', 64, { min: 0, max: 100_000, integer: true }),
  maxFailovers: numberSetting(env, 'MAX_FAILOVERS', 2, { min: 0, max: 10, integer: true }),
  hedgeAfterMs: numberSetting(env, 'HEDGE_AFTER_MS', 10_000, { min: 0, max: 3_600_000, integer: true }),
  jobsPerTab: numberSetting(env, 'JOBS_PER_TAB', 2, { min: 1, max: 16, integer: true }),
  modelSize: (model) => {
    const entry = catalogue.get(model);
    return entry && modelSizeOf(entry);
  },
  log,
  streamCheck: (task) => {
    const pieces = pieceBooks.get(task.model);
    return pieces ? streamCheck(pieces, task) : null;
  },
  onTokens: (count) => networkHistory.tokensStreamed(count),
  onFinished: (job) => {
    networkHistory.jobEnded(job.event, job.streamed);
    wiring.board.onFinished?.(job);
  },
  onCompleted: (job) => desk.jobCompleted(job),
  onTabFree: () => desk.pump(),
});
const peerjsKey = env.PEERJS_KEY ?? 'dolphin';
// The coordinator's own peer id is reserved to a token only this process knows.
const coordinatorPeer = { id: 'dolphin-coordinator', token: randomBytes(24).toString('hex') };
// Only peers the coordinator invited (tabs it accepted) may register: each tab's id is reserved to its token.
const signalling = new SignallingServer({ ...SIGNALLING_DEFAULTS, key: peerjsKey, reserved: new Map([[coordinatorPeer.id, coordinatorPeer.token]]), onlyReserved: true, now: Date.now, log });
const iceServers = webRtcInvitationSchema.shape.iceServers.parse(JSON.parse(env.ICE_SERVERS ?? '[]'));
let webrtc: TabWebRtcOptions | undefined;
const sweepTimer = setInterval(() => {
  signalling.sweep();
  void wiring.sweep();
  try {
    desk.pump();
  } catch (error) {
    log(`audit sweep failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}, 1000);
const network = new NetworkFeed({ history: networkHistory, registry, waiting: () => board?.waitingCount ?? 0, book, clock: Date.now, intervalMs: sampleMs, log });
network.start();
const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));

const app = createApp({
  catalogue,
  registry,
  board,
  audits: { desk, book },
  network,
  upgradeWebSocket,
  signalling: { server: signalling, key: peerjsKey },
  webrtc: () => webrtc,
  economy: wiring.deps,
  tabEvents: {
    onAccepted: (tab, address) => {
      if (!tab.contributorId) return;
      tab.reputation = book.reputation(tab.contributorId);
      wiring.tabs.accepted(tab.contributorId, address);
    },
    onClosed: (tab) => {
      const id = tab.contributorId;
      if (id && !registry.ready().some((t) => t !== tab && t.contributorId === id)) wiring.tabs.gone(id);
    },
  },
  webDir: resolve(env.WEB_DIR ?? 'dist'),
  ortDir,
  randomSeed: () => randomInt(2 ** 48 - 1),
  log,
});

// ws buffers a whole frame before we see it; cap frames at the largest valid tab message (UTF-8 worst case).
const wss = new WebSocketServer({ noServer: true, maxPayload: 3 * MAX_TAB_MESSAGE_CHARS });
const server = serve({ fetch: app.fetch, port, hostname: host, websocket: { server: wss } }, (info) => {
  log(`listening on http://${host === '0.0.0.0' ? 'localhost' : host}:${info.port} with models [${catalogue.list().map((m) => m.id).join(', ')}]`);
  if (env.WEBRTC === '0') return log('WebRTC is off (WEBRTC=0): tabs stay on WebSockets');
  startCoordinatorPeer({ port: info.port, host: host === '0.0.0.0' ? '127.0.0.1' : host, key: peerjsKey, ...coordinatorPeer, iceServers, ...(env.WEBRTC_BIND_ADDRESS ? { bindAddress: env.WEBRTC_BIND_ADDRESS } : {}), log }).then(
    (peer) => {
      webrtc = { peer, reservations: signalling, key: peerjsKey, iceServers, connectTimeoutMs: 10_000, retryMs: 15_000, maxRetryMs: 300_000, log };
      log(`WebRTC peer ${peer.id} is up (ICE servers: ${iceServers.length ? iceServers.map((s) => s.urls).join(', ') : 'none'})`);
    },
    (error: unknown) => log(`WebRTC is unavailable, tabs stay on WebSockets: ${error instanceof Error ? error.message : String(error)}`),
  );
});

// An idle keep-alive connection the server closes just as a client sends on it resets that request (ECONNRESET,
// not retried for a POST). Node closes idle connections after 5 s; clients and proxies commonly keep them for up
// to a minute, so the server keeps them longer than that.
if ('keepAliveTimeout' in server) {
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
}

// Open tab sockets and SSE streams would keep server.close() waiting forever: end them first.
function shutdown() {
  clearInterval(sweepTimer);
  network.stop();
  webrtc?.peer.close();
  signalling.closeAll();
  for (const socket of wss.clients) socket.terminate();
  if ('closeAllConnections' in server) server.closeAllConnections();
  server.close(() => {
    store.close();
    process.exit(0);
  });
  setTimeout(() => process.exit(1), 5000).unref();
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, shutdown);
