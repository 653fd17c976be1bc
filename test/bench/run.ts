/**
 * `npm run bench`: engine speed on WASM and WebGPU (in Chromium) and on onnxruntime-node (the CPU reference), and
 * what the network adds: end-to-end decode tokens/s through the coordinator vs the same tab's engine called
 * directly, and the added time to first token; and what verification costs (verify.ts: re-scoring vs generating,
 * cross-backend deviations, network-wide audit overhead). Writes bench-results/<timestamp>.json and prints a table.
 *   BENCH_MODEL (dolphin-small)  BENCH_RUNS (7)  BENCH_WARM_UP_MS (5000)  BENCH_TOKENS (64)  BENCH_WEBGPU_RUNS (3)  BENCH_WEBGPU_TOKENS (16)
 *   BENCH_PORT (8798; the dispatch part's own coordinator: BENCH_PORT + 2)  BENCH_ONLY (engine | transport | links | verify | ledger | scheduler | pages | dispatch: run one part)  BENCH_PINGS (300)  BENCH_LINKS_WS / BENCH_LINKS_RTC
 *   BENCH_VERIFY_RUNS / BENCH_VERIFY_SEEDS / BENCH_VERIFY_WASM_TOKENS / BENCH_VERIFY_WEBGPU_TOKENS (verify.ts)  BENCH_LEDGER_JOBS (ledger.ts)
 *   BENCH_SIM_TABS / BENCH_DISPATCH_JOBS / BENCH_REAL_TAB_JOBS (dispatch.ts)  BENCH_PAGES_TABS / BENCH_PAGES_IDENTITIES (pages.ts)
 *
 * The time to first token the network adds is measured per request: the client's time to first token minus the
 * time the tab itself took from receiving the task to its first token (the tab reports it with ?expose=1).
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { newAccount } from '../support/account.ts';
import { chromium, type Page } from 'playwright-core';
import { chromiumArgs, chromiumPath } from '../support/chromium.ts';
import { loadNodeModel } from '../support/node-model.ts';
import { runChatTask } from '../../worker/runtime.ts';
import type { SamplingParams } from '../../src/protocol/tab.ts';
import type { PlainMessage } from '../../src/protocol/api.ts';
import { median, percentile, timingOf, type Timing } from './stats.ts';
import { benchTransport, printTransport } from './transport.ts';
import { benchLinks, printLinks } from './links.ts';
import { benchVerify, printVerify } from './verify.ts';
import { benchLedger, printLedger } from './ledger.ts';
import { benchBoard, benchScheduler, printScheduler } from './scheduler.ts';
import { benchDispatch, printDispatch } from './dispatch.ts';
import { benchPages, printPages } from './pages.ts';

const MODEL = process.env.BENCH_MODEL ?? 'dolphin-small';
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 64);
const WEBGPU_RUNS = Number(process.env.BENCH_WEBGPU_RUNS ?? 3);
const WEBGPU_TOKENS = Number(process.env.BENCH_WEBGPU_TOKENS ?? 16);
const PORT = Number(process.env.BENCH_PORT ?? 8798);
const BASE = `http://127.0.0.1:${PORT}`;
/** The bench's requester key, made once the coordinator is up. */
let apiKey = '';

const messages: PlainMessage[] = [{ role: 'user', content: 'Write a short story about a dolphin who learns to surf the waves at dawn.' }];
const params = (maxTokens: number, seed: number): SamplingParams => ({ maxTokens, temperature: 0.7, topP: 0.95, topK: 0, stop: [], seed, topLogprobs: 0 });

function summarize(runs: Timing[]) {
  return {
    runs: runs.length,
    tokens: median(runs.map((r) => r.tokens)),
    ttftMsP50: median(runs.map((r) => r.ttftMs)),
    decodeTokensPerSecondP50: median(runs.map((r) => r.decodeTokensPerSecond)),
  };
}

const WARM_UP_RUNS = 2;
const WARM_UP_MS = Number(process.env.BENCH_WARM_UP_MS ?? 5000);

/** onnxruntime-node on the CPU, with its default thread pool (one per core) or a fixed number of threads. */
async function benchNode(maxTokens: number, cpuThreads?: number) {
  const model = await loadNodeModel(MODEL, 'onnxruntime-node', cpuThreads ? { cpuThreads } : {});
  const runs: Timing[] = [];
  for (let i = 1 - WARM_UP_RUNS; i <= RUNS; i++) {
    const times: number[] = [];
    const start = performance.now();
    await runChatTask(model, { messages, params: params(maxTokens, Math.max(i, 0)) }, () => times.push(performance.now()));
    if (i > 0) runs.push(timingOf(start, times));
  }
  await model.engine.dispose();
  return { threads: cpuThreads ?? cpus().length, ...summarize(runs) };
}

/** The tab's own engine, called directly through its worker (no coordinator, no network). */
async function benchDirect(page: Page, maxTokens: number, seed: number): Promise<Timing> {
  return page.evaluate(
    async ({ model, messages, params }) => {
      const { worker } = (window as unknown as { dolphin: { worker: any } }).dolphin;
      const times: number[] = [];
      const start = performance.now();
      await worker.run(`bench-${Math.random()}`, { model, messages, params }, (batch: unknown[]) => times.push(...batch.map(() => performance.now())));
      return { start, times };
    },
    { model: MODEL, messages, params: params(maxTokens, seed) },
  ).then(({ start, times }) => timingOf(start, times));
}

/** The same request through the coordinator's API, timed by the client. */
async function benchNetwork(maxTokens: number, seed: number): Promise<Timing & { backend: string | null; transport: string | null; jobId: string }> {
  const start = performance.now();
  const response = await fetch(`${BASE}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ model: MODEL, messages, stream: true, max_tokens: maxTokens, temperature: 0.7, top_p: 0.95, seed, logprobs: true }),
  });
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const times: number[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  let jobId = '';
  const reader = response.body.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    buffer += decoder.decode(read.value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      // One chunk per generated token (logprobs on), so tokens are counted even when their text is held back.
      if (event.includes('"logprobs":{"content"')) times.push(performance.now());
      jobId ||= /"id":"([^"]+)"/.exec(event)?.[1] ?? '';
    }
  }
  return { ...timingOf(start, times), backend: response.headers.get('x-dolphin-backend'), transport: response.headers.get('x-dolphin-transport'), jobId };
}

/** How each network job went inside the tab, by job id: task to first token, and the decode rate there. */
async function tabSide(page: Page): Promise<Map<string, { ttftMs: number; decodeTokensPerSecond: number }>> {
  type Finished = { jobId: string; tokens: number; startedAt: number; firstTokenAt: number | null; lastTokenAt: number | null };
  const jobs = await page.evaluate(() => (window as unknown as { dolphin: { finishedJobs: Finished[] } }).dolphin.finishedJobs);
  return new Map(
    jobs.map((j) => [
      j.jobId,
      { ttftMs: (j.firstTokenAt ?? Number.NaN) - j.startedAt, decodeTokensPerSecond: ((j.tokens - 1) * 1000) / ((j.lastTokenAt ?? Number.NaN) - (j.firstTokenAt ?? Number.NaN)) },
    ]),
  );
}

async function benchTab(page: Page, backend: 'wasm' | 'webgpu', runs: number, maxTokens: number) {
  const direct: Timing[] = [];
  const network: Array<Timing & { jobId: string; transport: string | null }> = [];
  // Warm-up: V8 compiles WASM in tiers and moves hot functions up only after a while, so early runs are slower
  // than a long-running contributor tab. Warm up for WARM_UP_MS (at least WARM_UP_RUNS runs).
  const warmUpStart = performance.now();
  for (let i = 0; i < WARM_UP_RUNS || performance.now() - warmUpStart < WARM_UP_MS; i++) await benchDirect(page, maxTokens, 0);
  for (let i = 1; i <= runs; i++) {
    // Interleaved, alternating which goes first, so both see the same machine state; the same seed, so both
    // generate the same tokens.
    const runDirect = async () => direct.push(await benchDirect(page, maxTokens, i));
    const runNetwork = async () => {
      const n = await benchNetwork(maxTokens, i);
      if (n.backend !== backend) throw new Error(`expected the ${backend} tab to serve, got ${n.backend}`);
      network.push(n);
    };
    if (i % 2) await runDirect().then(runNetwork);
    else await runNetwork().then(runDirect);
  }
  const d = summarize(direct);
  const n = summarize(network);
  const inTab = await tabSide(page);
  const addedTtft = network.map((r) => r.ttftMs - (inTab.get(r.jobId)?.ttftMs ?? Number.NaN));
  return {
    direct: d,
    network: n,
    /** Decode speed of the network jobs as the tab saw it: shows whether the relay kept up with the engine. */
    networkInTabDecodeTokensPerSecondP50: median(network.map((r) => inTab.get(r.jobId)?.decodeTokensPerSecond ?? Number.NaN)),
    endToEndRatio: n.decodeTokensPerSecondP50 / d.decodeTokensPerSecondP50,
    /** The links the network runs' tasks went out on (the tab moves to its data channel within a second). */
    transports: [...new Set(network.map((r) => r.transport))],
    addedTtftMsP50: median(addedTtft),
    addedTtftMsP99: percentile(addedTtft, 99),
  };
}

async function openTab(browser: Awaited<ReturnType<typeof chromium.launch>>, backend: 'wasm' | 'webgpu', wasmThreads?: number): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${BASE}/?autostart=1&expose=1&backend=${backend}&model=${MODEL}${wasmThreads ? `&threads=${wasmThreads}` : ''}`);
  await page.waitForSelector('[data-testid=status][data-phase=serving]', { timeout: 180_000 });
  return page;
}

async function main() {
  // The ledger and the scheduler need neither the coordinator nor a browser.
  const only = process.env.BENCH_ONLY;
  const ledger = !only || only === 'ledger' ? await benchLedger() : null;
  const scheduler = !only || only === 'scheduler' ? { ...benchScheduler(), board: await benchBoard() } : null;
  const pages = !only || only === 'pages' ? await benchPages() : null;
  if (only === 'ledger' || only === 'scheduler' || only === 'pages') {
    const result = { date: new Date().toISOString(), machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown' }, ledger, scheduler, pages };
    await mkdir('bench-results', { recursive: true });
    const file = `bench-results/${result.date.replace(/[:.]/g, '-')}.json`;
    await writeFile(file, JSON.stringify(result, null, 2));
    if (ledger) printLedger(ledger);
    if (scheduler) printScheduler(scheduler);
    if (pages) printPages(pages);
    return console.log(`\nJSON: ${file}`);
  }
  if (only === 'dispatch') {
    const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
    try {
      const dispatch = await benchDispatch(browser, PORT + 2);
      const result = { date: new Date().toISOString(), machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown' }, dispatch };
      await mkdir('bench-results', { recursive: true });
      const file = `bench-results/${result.date.replace(/[:.]/g, '-')}.json`;
      await writeFile(file, JSON.stringify(result, null, 2));
      printDispatch(dispatch);
      return console.log(`\nJSON: ${file}`);
    } finally {
      await browser.close();
    }
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'dolphin-bench-'));
  const coordinator = spawn(process.execPath, ['--import', 'tsx', 'coordinator/main.ts'], { env: { ...process.env, PORT: String(PORT), HOST: '127.0.0.1', WEBRTC_BIND_ADDRESS: '127.0.0.1', DATA_DIR: dataDir, FAUCET_PER_HOUR: '1000' }, stdio: ['ignore', 'pipe', 'inherit'] });
  // Read (and drop) its log, so an unread pipe does not hold it in the coordinator's memory.
  coordinator.stdout?.resume();
  const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
  try {
    for (let i = 0; i < 100 && !(await fetch(`${BASE}/api/network`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 200));
    apiKey = (await newAccount(BASE, 'bench')).apiKey;
    const transport = !only || only === 'transport' ? await benchTransport(browser, BASE) : null;
    if (transport) console.error('bench: transport done');
    const links = !only || only === 'links' ? await benchLinks({ base: BASE, coordinatorPid: coordinator.pid ?? 0 }) : null;
    if (links) console.error('bench: links done');
    const verify = !only || only === 'verify' ? await benchVerify(browser, BASE, MODEL) : null;
    if (verify) console.error('bench: verify done');
    const dispatch = !only ? await benchDispatch(browser, PORT + 2) : null;
    if (dispatch) console.error('bench: dispatch done');
    if (only && only !== 'engine') {
      const result = { date: new Date().toISOString(), machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown' }, transport, links, verify, ledger, scheduler };
      await mkdir('bench-results', { recursive: true });
      const file = `bench-results/${result.date.replace(/[:.]/g, '-')}.json`;
      await writeFile(file, JSON.stringify(result, null, 2));
      if (transport) printTransport(transport);
      if (links) printLinks(links);
      if (verify) printVerify(verify);
      if (ledger) printLedger(ledger);
      if (scheduler) printScheduler(scheduler);
      console.log(`\nJSON: ${file}`);
      return;
    }
    console.error(`bench: ${MODEL}, ${RUNS} runs of ${TOKENS} tokens (WebGPU: ${WEBGPU_RUNS} of ${WEBGPU_TOKENS})`);
    const node = await benchNode(TOKENS);
    const node1 = await benchNode(TOKENS, 1);
    console.error('bench: onnxruntime-node done');
    // One tab at a time, so another tab's engine does not compete for the cores.
    const benchWasm = async (threads?: number) => {
      const page = await openTab(browser, 'wasm', threads);
      const result = { threads: Number(await page.getByTestId('wasm-threads').innerText()), ...(await benchTab(page, 'wasm', RUNS, TOKENS)) };
      await page.context().close();
      return result;
    };
    const wasm = await benchWasm();
    const wasmAllCores = cpus().length > wasm.threads ? await benchWasm(cpus().length) : null;
    console.error('bench: wasm done');
    const webgpuPage = await openTab(browser, 'webgpu');
    const adapter = await webgpuPage.getByTestId('adapter').innerText();
    const webgpu = await benchTab(webgpuPage, 'webgpu', WEBGPU_RUNS, WEBGPU_TOKENS);
    await webgpuPage.context().close();
    console.error('bench: webgpu done');

    const result = {
      date: new Date().toISOString(),
      model: MODEL,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', webgpuAdapter: adapter },
      settings: { runs: RUNS, tokens: TOKENS, webgpuRuns: WEBGPU_RUNS, webgpuTokens: WEBGPU_TOKENS },
      onnxruntimeNode: node,
      onnxruntimeNodeOneThread: node1,
      wasm,
      wasmAllCores,
      webgpu,
      transport,
      links,
      verify,
      ledger,
      scheduler,
      pages,
      dispatch,
      ratios: {
        wasmVsNode: wasm.direct.decodeTokensPerSecondP50 / node.decodeTokensPerSecondP50,
        wasmVsNodeSameThreads: wasm.threads === 1 ? wasm.direct.decodeTokensPerSecondP50 / node1.decodeTokensPerSecondP50 : null,
        wasmAllCoresVsNode: wasmAllCores ? wasmAllCores.direct.decodeTokensPerSecondP50 / node.decodeTokensPerSecondP50 : null,
      },
      targets: {
        endToEndAtLeast95PercentOfDirect: { wasm: wasm.endToEndRatio >= 0.95, webgpu: webgpu.endToEndRatio >= 0.95 },
        addedTtftAtMost20msP50: { wasm: wasm.addedTtftMsP50 <= 20, webgpu: webgpu.addedTtftMsP50 <= 20 },
        wasmAtLeastHalfOfNode: wasm.direct.decodeTokensPerSecondP50 / node.decodeTokensPerSecondP50 >= 0.5,
      },
    };
    await mkdir('bench-results', { recursive: true });
    const file = `bench-results/${result.date.replace(/[:.]/g, '-')}.json`;
    await writeFile(file, JSON.stringify(result, null, 2));
    printTable(result);
    if (transport) printTransport(transport);
    if (links) printLinks(links);
    if (verify) printVerify(verify);
    if (ledger) printLedger(ledger);
    if (scheduler) printScheduler(scheduler);
    if (pages) printPages(pages);
    if (dispatch) printDispatch(dispatch);
    console.log(`\nJSON: ${file}`);
  } finally {
    await browser.close();
    coordinator.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

type TabResult = Awaited<ReturnType<typeof benchTab>>;
interface BenchResult {
  model: string;
  onnxruntimeNode: Awaited<ReturnType<typeof benchNode>>;
  onnxruntimeNodeOneThread: Awaited<ReturnType<typeof benchNode>>;
  wasm: TabResult & { threads: number };
  wasmAllCores: (TabResult & { threads: number }) | null;
  webgpu: TabResult;
  ratios: { wasmVsNode: number; wasmVsNodeSameThreads: number | null; wasmAllCoresVsNode: number | null };
}

function printTable(r: BenchResult) {
  const f = (n: number | null | undefined, d = 1) => (n !== null && n !== undefined && Number.isFinite(n) ? n.toFixed(d) : '–');
  const row = (name: string, t: ReturnType<typeof summarize>) => [name, f(t.decodeTokensPerSecondP50), f(t.ttftMsP50), f(t.tokens, 0)];
  const tabRows = (name: string, t: TabResult) => [row(`${name}, direct`, t.direct), row(`${name}, via coordinator`, t.network)];
  const rows = [
    ['engine', 'decode tok/s (p50)', 'TTFT ms (p50)', 'tokens'],
    row(`onnxruntime-node, ${r.onnxruntimeNode.threads} threads`, r.onnxruntimeNode),
    row('onnxruntime-node, 1 thread', r.onnxruntimeNodeOneThread),
    ...tabRows(`WASM, ${r.wasm.threads} thread${r.wasm.threads > 1 ? 's' : ''}`, r.wasm),
    ...(r.wasmAllCores ? tabRows(`WASM, ${r.wasmAllCores.threads} threads`, r.wasmAllCores) : []),
    ...tabRows('WebGPU', r.webgpu),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  console.log(`\n${r.model}`);
  for (const x of rows) console.log(x.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  const tabs: Array<[string, TabResult]> = [[`WASM ${r.wasm.threads}t`, r.wasm], ...(r.wasmAllCores ? [[`WASM ${r.wasmAllCores.threads}t`, r.wasmAllCores] as [string, TabResult]] : []), ['WebGPU', r.webgpu]];
  console.log(`\nend-to-end / direct decode speed (target ≥ 0.95): ${tabs.map(([n, t]) => `${n} ${f(t.endToEndRatio, 3)} (${t.transports.join('+')})`).join(', ')}`);
  console.log(`  decode speed of the network jobs inside the tab: ${tabs.map(([n, t]) => `${n} ${f(t.networkInTabDecodeTokensPerSecondP50)}`).join(', ')} tok/s`);
  console.log(`time to first token added by the network, p50 / p99 (target ≤ 20 ms p50): ${tabs.map(([n, t]) => `${n} ${f(t.addedTtftMsP50)} / ${f(t.addedTtftMsP99)} ms`).join(', ')}`);
  console.log(`WASM / onnxruntime-node decode speed (target ≥ 0.5): ${f(r.ratios.wasmVsNode, 3)} (default threads each), ${f(r.ratios.wasmVsNodeSameThreads, 3)} (1 thread each), ${f(r.ratios.wasmAllCoresVsNode, 3)} (all cores each)`);
}

await main();
