/**
 * Dispatch numbers for `npm run bench` (issue #6), against a coordinator of its own (audits at their minimum rate,
 * a large starter stake and credits, so every job is paid for and every tab may serve):
 * - simulated tabs over real sockets: WebSocket tabs in this process that answer each task at once with one signed
 *   token (real prompt count and token text, so the coordinator checks them as it checks any tab), called through
 *   the HTTP API: a 1-token job's round trip, jobs/s at rising concurrency (where p99 starts to climb), a burst of
 *   100, and latency over 10,000 jobs;
 * - two real tabs (Chromium, the tiny model on WASM): small jobs/s sustained;
 *   (BENCH_SIMULATED_ONLY=1: only the simulated part; BENCH_CPU_PROF=<dir>: the coordinator writes a CPU profile there;
 *   BENCH_LOG=<file>: the coordinator's log goes there)
 * - failover: three real tabs, the streaming one closed mid-stream; the time from the close to the next token.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { WebSocket } from 'ws';
import { newAccount } from '../support/account.ts';
import { loadNodeModel } from '../support/node-model.ts';
import { helloMessage, TestIdentity } from '../unit/tab-peer.ts';
import { parseCoordinatorMessage, type TaskMessage, type TokenEntry } from '../../src/protocol/tab.ts';
import { parseAuditTranscript } from '../../src/protocol/mesh.ts';
import type { LoadedModel } from '../../worker/runtime.ts';
import { median, percentile } from './stats.ts';

const MODEL = 'dolphin-tiny';
const SIM_TABS = Number(process.env.BENCH_SIM_TABS ?? 8);
const LONG_RUN_JOBS = Number(process.env.BENCH_DISPATCH_JOBS ?? 10_000);
const messages = [{ role: 'user', content: 'Hi' }];

/** A contributor tab in this process: proves an identity, then answers every task with one token and a signed done. */
function simulatedTab(url: string, model: LoadedModel): Promise<{ close(): void }> {
  const identity = new TestIdentity();
  const id = model.tokenizer.encode('a')[0] as number;
  const piece = model.tokenizer.piece(id);
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('message', (raw) => {
      const parsed = parseCoordinatorMessage(String(raw));
      if (!parsed.ok) return;
      const message = parsed.message;
      if (message.type === 'welcome') ws.send(JSON.stringify({ ...helloMessage([MODEL]), identity: identity.prove(message.challenge) }));
      else if (message.type === 'accepted') resolve({ close: () => ws.close() });
      else if (message.type === 'task') answer(message);
      // A verifier of this simulated network, whose "model" always gives token `id` at logprob -1: it approves
      // exactly what a simulated tab produces and rejects the rest (planted copies have a logprob lowered), so it
      // stays trusted and audits get rarer as identities pass them, as on a running network.
      else if (message.type === 'audit') {
        const claim = message.transcript === undefined ? null : parseAuditTranscript(message.transcript);
        const bad = !claim?.ok ? 0 : claim.message.tokens.findIndex(([tokenId, logprob]) => tokenId !== id || logprob !== -1);
        const verdict = { ok: bad < 0, firstFailure: bad < 0 ? null : { position: bad, reason: 'logprob_mismatch' as const }, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 0 };
        ws.send(JSON.stringify({ type: 'verdict', auditId: message.auditId, transcriptSha256: message.transcriptSha256, verdict, signature: identity.signVerdict(message.auditId, message.transcriptSha256, verdict) }));
      }
    });
  });
  function answer(task: TaskMessage) {
    const entry: TokenEntry = { index: 0, token: { id, token: piece.text, bytes: piece.bytes, logprob: -1 }, text: model.tokenizer.decode([id]), top: [] };
    const end = { finishReason: 'length' as const, promptTokens: model.tokenizer.encodeChat(task.messages).length, completionTokens: 1 };
    ws.send(JSON.stringify({ type: 'tokens', jobId: task.jobId, tokens: [entry] }));
    ws.send(JSON.stringify({ type: 'done', jobId: task.jobId, text: '', ...end, signature: identity.signResult(task, [{ id, logprob: -1, top: [] }], end) }));
  }
}

type Outcome = { ok: boolean; ms: number };

export async function benchDispatch(browser: Browser, port: number) {
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'dolphin-bench-dispatch-'));
  const env = { PORT: String(port), HOST: '127.0.0.1', WEBRTC_BIND_ADDRESS: '127.0.0.1', DATA_DIR: dataDir, FAUCET_PER_HOUR: '100000', STARTER_CREDITS: '100000', STARTER_STAKE: '1000', AUDIT_PROBATION: '0', AUDIT_P_MIN: '0.001', AUDIT_PLANT_RATE: '0', QUEUE_PER_MODEL: '1000' };
  const coordinator = spawn(process.execPath, [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []), '--import', 'tsx', 'coordinator/main.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  if (process.env.BENCH_LOG) coordinator.stdout?.pipe((await import('node:fs')).createWriteStream(process.env.BENCH_LOG));
  else coordinator.stdout?.resume();
  const model = await loadNodeModel(MODEL);
  const contexts: BrowserContext[] = [];
  try {
    for (let i = 0; i < 100 && !(await fetch(`${base}/api/network`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 200));
    const key = (await newAccount(base, 'bench-dispatch')).apiKey;
    const complete = async (maxTokens = 1): Promise<Outcome> => {
      const start = performance.now();
      const response = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` }, body: JSON.stringify({ model: MODEL, messages, max_tokens: maxTokens, temperature: 0 }) });
      await response.arrayBuffer();
      return { ok: response.ok, ms: performance.now() - start };
    };
    /** `jobs` requests, at most `concurrency` at a time. */
    const run = async (jobs: number, concurrency: number) => {
      const outcomes: Outcome[] = [];
      let next = 0;
      const start = performance.now();
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < jobs) {
          next++;
          outcomes.push(await complete());
        }
      }));
      const seconds = (performance.now() - start) / 1000;
      const ms = outcomes.filter((o) => o.ok).map((o) => o.ms);
      return { jobs, concurrency, ok: ms.length, jobsPerSecond: ms.length / seconds, p50Ms: median(ms), p99Ms: percentile(ms, 99) };
    };

    const tabs = await Promise.all(Array.from({ length: SIM_TABS }, () => simulatedTab(`ws://127.0.0.1:${port}/tabs`, model)));
    await run(300, 4); // warm-up
    const roundTrip = await run(1000, 1);
    const concurrency = [];
    for (const c of [1, 2, 4, 8, 16, 32]) concurrency.push(await run(Math.max(500, c * 100), c));
    const burstStart = performance.now();
    const burst = await Promise.all(Array.from({ length: 100 }, () => complete()));
    const burstResult = { ok: burst.filter((o) => o.ok).length, ms: performance.now() - burstStart };
    // Latency over a long run: the first and the last thousand jobs.
    const long: Outcome[] = [];
    let issued = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (issued < LONG_RUN_JOBS) {
        issued++;
        long.push(await complete());
      }
    }));
    const slice = (from: number, to: number) => long.slice(from, to).map((o) => o.ms);
    const longRun = { jobs: long.length, ok: long.filter((o) => o.ok).length, firstP50Ms: median(slice(0, 1000)), firstP99Ms: percentile(slice(0, 1000), 99), lastP50Ms: median(slice(-1000, long.length)), lastP99Ms: percentile(slice(-1000, long.length), 99) };
    for (const tab of tabs) tab.close();
    await waitForTabs(base, 0);

    if (process.env.BENCH_SIMULATED_ONLY) return { simulatedTabs: SIM_TABS, roundTrip, concurrency, burst: burstResult, longRun, realTabs: null, streamRecoveryMs: [] };
    // Two real tabs.
    const openTab = async () => {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(`${base}/?autostart=1&expose=1&backend=wasm&model=${MODEL}`);
      await page.waitForSelector('[data-testid=status][data-phase=serving]', { timeout: 180_000 });
      return context;
    };
    await Promise.all([openTab(), openTab()]);
    await run(100, 4); // warm-up
    const realTabs = await run(Number(process.env.BENCH_REAL_TAB_JOBS ?? 2000), 8);

    // Failover: a third tab, then a long stream whose tab is closed after a few tokens.
    await openTab();
    const recovery: number[] = [];
    for (let i = 0; i < 3; i++) {
      recovery.push(await streamThroughAKill(base, key, contexts));
      await openTab();
    }
    return { simulatedTabs: SIM_TABS, roundTrip, concurrency, burst: burstResult, longRun, realTabs, streamRecoveryMs: recovery };
  } finally {
    await Promise.all(contexts.map((c) => c.close().catch(() => {})));
    await model.engine.dispose();
    coordinator.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function waitForTabs(base: string, count: number) {
  for (let i = 0; i < 100; i++) {
    const network = (await (await fetch(`${base}/api/network`)).json()) as { tabs: unknown[] };
    if (network.tabs.length === count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Streams a long completion, closes the tab serving it after 5 tokens; the ms from the close to the next token. */
async function streamThroughAKill(base: string, key: string, contexts: BrowserContext[]): Promise<number> {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Keep talking for a long while, please.' }], stream: true, max_tokens: 400, temperature: 0.9, seed: 99, logprobs: true }),
  });
  const tabId = response.headers.get('x-dolphin-tab') ?? '';
  const reader = response.body?.getReader();
  if (!reader) throw new Error(`HTTP ${response.status}`);
  const decoder = new TextDecoder();
  let tokens = 0;
  let killedAt: number | null = null;
  let recoveredMs = Number.NaN;
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    const count = decoder.decode(read.value, { stream: true }).split('"logprobs":{"content"').length - 1;
    if (killedAt !== null && count > 0 && Number.isNaN(recoveredMs)) recoveredMs = performance.now() - killedAt;
    tokens += count;
    if (killedAt === null && tokens >= 5) {
      const pages = contexts.flatMap((c) => c.pages());
      const statuses = await Promise.all(pages.map((p) => p.getByTestId('status').innerText().catch(() => '')));
      const serving = pages[statuses.findIndex((s) => s.endsWith(` ${tabId}`))];
      if (!serving) throw new Error(`no page shows ${tabId}`);
      killedAt = performance.now();
      await serving.context().close();
      contexts.splice(contexts.indexOf(serving.context()), 1);
    }
  }
  return recoveredMs;
}

export type DispatchResult = Awaited<ReturnType<typeof benchDispatch>>;

export function printDispatch(d: DispatchResult) {
  const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
  console.log(`\ndispatch (${d.simulatedTabs} simulated tabs over WebSockets, 1-token jobs through the HTTP API)`);
  console.log(`  1-token job round trip: p50 ${f(d.roundTrip.p50Ms, 2)} ms, p99 ${f(d.roundTrip.p99Ms, 2)} ms (target p50 ≤ 5 ms)`);
  for (const c of d.concurrency) console.log(`  concurrency ${String(c.concurrency).padStart(2)}: ${f(c.jobsPerSecond, 0)} jobs/s, p50 ${f(c.p50Ms, 2)} ms, p99 ${f(c.p99Ms, 2)} ms`);
  console.log(`  burst of 100 at once: ${d.burst.ok}/100 in ${f(d.burst.ms, 0)} ms (target 100/100)`);
  console.log(`  ${d.longRun.jobs} jobs at concurrency 8: first 1000 p50 ${f(d.longRun.firstP50Ms, 2)} / p99 ${f(d.longRun.firstP99Ms, 2)} ms, last 1000 p50 ${f(d.longRun.lastP50Ms, 2)} / p99 ${f(d.longRun.lastP99Ms, 2)} ms, ${d.longRun.ok} ok (target flat)`);
  if (d.realTabs) console.log(`  2 real tabs (${MODEL}, WASM), concurrency 8: ${f(d.realTabs.jobsPerSecond, 0)} jobs/s, p50 ${f(d.realTabs.p50Ms, 1)} ms, p99 ${f(d.realTabs.p99Ms, 1)} ms (target ≥ 300 jobs/s)`);
  console.log(`  stream resumed after its tab was closed: ${d.streamRecoveryMs.map((ms) => `${f(ms, 0)} ms`).join(', ')} (target ≤ 2000 ms)`);
}
