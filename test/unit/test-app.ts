/**
 * A coordinator app for tests of its HTTP routes: model folders in a temporary root as the catalogue reads them,
 * the app wired over a catalogue and an economy (testEconomy), and request helpers.
 */
import { upgradeWebSocket } from '@hono/node-server';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ErrorBody } from '../../src/protocol/api.ts';
import { createApp, type EconomyDeps } from '../../coordinator/app.ts';
import { JobBoard, type JobBoardOptions } from '../../coordinator/jobs/job-board.ts';
import { loadCatalogue, type ModelCatalogue } from '../../coordinator/models/catalogue.ts';
import { SIGNALLING_DEFAULTS, SignallingServer } from '../../coordinator/signalling/signalling-server.ts';
import { TabRegistry } from '../../coordinator/tabs/tab-registry.ts';
import { AuditBook } from '../../coordinator/trust/audit-book.ts';
import { AuditDesk } from '../../coordinator/trust/audit-desk.ts';
import { DEFAULT_AUDIT_POLICY } from '../../coordinator/trust/audit-policy.ts';
import { NetworkFeed } from '../../coordinator/stats/network-feed.ts';
import { NetworkHistory } from '../../coordinator/stats/network-history.ts';

/** The SHA-256 a test model's manifest lists for its config.json (made up). */
export const CONFIG_SHA256 = 'cd'.repeat(32);

export interface ModelFolderOptions {
  /** The config's max_position_embeddings. Default 96. */
  contextLength?: number;
  /** The model file and the SHA-256 its manifest lists. Default: 4 zero bytes, listed with a made-up hash. */
  onnx?: { bytes: Uint8Array; sha256: string };
  /** Files written beside the manifest that it does not list, by name. */
  unlisted?: Record<string, string>;
}

/** A model folder as the catalogue reads it: a manifest, a tiny llama config.json and onnx/model.onnx. */
export async function writeModelFolder(modelsDir: string, id: string, options: ModelFolderOptions = {}): Promise<void> {
  const onnx = options.onnx ?? { bytes: new Uint8Array(4), sha256: 'ab'.repeat(32) };
  const dir = join(modelsDir, id);
  await mkdir(join(dir, 'onnx'), { recursive: true });
  const config = { model_type: 'llama', vocab_size: 32, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: options.contextLength ?? 96, eos_token_id: 2 };
  const configText = JSON.stringify(config);
  const manifest = { id, parameters: 1234, files: [{ path: 'onnx/model.onnx', size: onnx.bytes.length, sha256: onnx.sha256 }, { path: 'config.json', size: configText.length, sha256: CONFIG_SHA256 }] };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  await writeFile(join(dir, 'config.json'), configText);
  await writeFile(join(dir, 'onnx', 'model.onnx'), onnx.bytes);
  for (const [name, text] of Object.entries(options.unlisted ?? {})) await writeFile(join(dir, name), text);
}

export interface TestModels {
  /** The temporary folder: models/ (one folder a model), web/ and ort/ (empty). */
  root: string;
  catalogue: ModelCatalogue;
  /** Deletes the temporary folder. */
  remove: () => Promise<void>;
}

/** Writes `models` (id → folder options) under a new temporary folder named from `prefix`, and loads the catalogue. */
export async function writeTestModels(prefix: string, models: Record<string, ModelFolderOptions>): Promise<TestModels> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  await Promise.all([...Object.entries(models).map(([id, options]) => writeModelFolder(join(root, 'models'), id, options)), mkdir(join(root, 'web')), mkdir(join(root, 'ort'))]);
  const catalogue = await loadCatalogue(join(root, 'models'));
  return { root, catalogue, remove: () => rm(root, { recursive: true, force: true }) };
}

export interface TestAppOptions {
  models: Pick<TestModels, 'root' | 'catalogue'>;
  economy: EconomyDeps;
  /** The audit book behind the app's audit desk. Default: a new one. */
  book?: AuditBook;
  /** The job board's options. Default: a tab idle for 10 s fails its job. */
  board?: Partial<Omit<JobBoardOptions, 'registry'>>;
  /** Default: always 1. */
  randomSeed?: () => number;
}

/**
 * A fresh coordinator app over the test's models and economy, with its own tab registry, job board, audit desk
 * (default policy, zero tolerances, nothing planted), network feed (sampled by `network.tick()`) and signalling
 * server (key 'test'). Nothing is logged.
 */
export function testApp(options: TestAppOptions) {
  const { catalogue, root } = options.models;
  const registry = new TabRegistry();
  const history = new NetworkHistory({ capacity: 100, startedAt: Date.now() });
  const onFinished: JobBoardOptions['onFinished'] = (job) => {
    history.jobEnded(job.event, job.streamed);
    options.board?.onFinished?.(job);
  };
  const onTokens: JobBoardOptions['onTokens'] = (count) => {
    history.tokensStreamed(count);
    options.board?.onTokens?.(count);
  };
  const board = new JobBoard({ registry, ...options.board, onFinished, onTokens, idleTimeoutMs: options.board?.idleTimeoutMs ?? 10_000 });
  const book = options.book ?? new AuditBook();
  const desk = new AuditDesk({ registry, book, policy: DEFAULT_AUDIT_POLICY, tolerances: { epsilon: 0, delta: 0, tau: 0 }, plantRate: 0, random: Math.random, verdictTimeoutMs: 1000, pendingTimeoutMs: 1000 });
  const signalling = { server: new SignallingServer({ ...SIGNALLING_DEFAULTS, key: 'test', now: Date.now, log: () => {} }), key: 'test' };
  // Samples only when a test calls network.tick(): no timer runs.
  const network = new NetworkFeed({ history, registry, waiting: () => board.waitingCount, book, clock: Date.now, intervalMs: 1000 });
  const app = createApp({ catalogue, registry, board, audits: { desk, book }, network, upgradeWebSocket, signalling, economy: options.economy, webDir: join(root, 'web'), ortDir: join(root, 'ort'), randomSeed: options.randomSeed ?? (() => 1), log: () => {} });
  return { app, registry, board, book, desk, network };
}

/** `init` with `key` as its bearer token, unless it sets its own Authorization (or `key` is null). */
export function withKey(init: RequestInit, key: string | null): RequestInit & { headers: Headers } {
  const headers = new Headers(init.headers);
  if (key !== null && !headers.has('Authorization')) headers.set('Authorization', `Bearer ${key}`);
  return { ...init, headers };
}

/** Expects an OpenAI-shaped JSON error with this status, type, param and code, and a message; returns the body. */
export async function expectError(response: Response, status: number, error: Omit<ErrorBody['error'], 'message'>) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as ErrorBody;
  expect(body).toEqual({ error: { message: expect.any(String), ...error } });
  expect(body.error.message.length).toBeGreaterThan(0);
  return body;
}
