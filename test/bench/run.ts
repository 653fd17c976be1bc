/**
 * `npm run bench`: engine speed on WASM and WebGPU (in Chromium) and on onnxruntime-node (the CPU reference), and
 * what the network adds: end-to-end decode tokens/s through the coordinator vs the same tab's engine called
 * directly, and the added time to first token. Writes bench-results/<timestamp>.json and prints a table.
 *   BENCH_MODEL (dolphin-small)  BENCH_RUNS (5)  BENCH_TOKENS (64)  BENCH_WEBGPU_RUNS (3)  BENCH_WEBGPU_TOKENS (16)
 *   BENCH_PORT (8798)
 *
 * The time to first token the network adds is measured per request: the client's time to first token minus the
 * time the tab itself took from receiving the task to its first token (the tab reports it with ?expose=1).
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { chromium, type Page } from 'playwright-core';
import { chromiumArgs, chromiumPath } from '../support/chromium.ts';
import { loadNodeModel } from '../support/node-model.ts';
import { runChatTask } from '../../worker/runtime.ts';
import type { SamplingParams } from '../../src/protocol/tab.ts';
import type { PlainMessage } from '../../src/protocol/api.ts';
import { median, percentile, timingOf, type Timing } from './stats.ts';

const MODEL = process.env.BENCH_MODEL ?? 'dolphin-small';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 64);
const WEBGPU_RUNS = Number(process.env.BENCH_WEBGPU_RUNS ?? 3);
const WEBGPU_TOKENS = Number(process.env.BENCH_WEBGPU_TOKENS ?? 16);
const PORT = Number(process.env.BENCH_PORT ?? 8798);
const BASE = `http://127.0.0.1:${PORT}`;

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

async function benchNode(maxTokens: number) {
  const model = await loadNodeModel(MODEL, 'onnxruntime-node');
  const runs: Timing[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const times: number[] = [];
    const start = performance.now();
    await runChatTask(model, { messages, params: params(maxTokens, i) }, () => times.push(performance.now()));
    if (i > 0) runs.push(timingOf(start, times)); // run 0 warms up
  }
  await model.engine.dispose();
  return summarize(runs);
}

/** The tab's own engine, called directly through its worker (no coordinator, no network). */
async function benchDirect(page: Page, maxTokens: number, seed: number): Promise<Timing> {
  return page.evaluate(
    async ({ model, messages, params }) => {
      const { worker, proxy } = (window as unknown as { dolphin: { worker: any; proxy: (f: unknown) => unknown } }).dolphin;
      const times: number[] = [];
      const start = performance.now();
      await worker.run(`bench-${Math.random()}`, { model, messages, params }, proxy(() => times.push(performance.now())));
      return { start, times };
    },
    { model: MODEL, messages, params: params(maxTokens, seed) },
  ).then(({ start, times }) => timingOf(start, times));
}

/** The same request through the coordinator's API, timed by the client. */
async function benchNetwork(maxTokens: number, seed: number): Promise<Timing & { backend: string | null; jobId: string }> {
  const start = performance.now();
  const response = await fetch(`${BASE}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
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
  return { ...timingOf(start, times), backend: response.headers.get('x-dolphin-backend'), jobId };
}

/** How long the tab took from receiving a network job to its first token, by job id. */
async function tabSideTtft(page: Page): Promise<Map<string, number>> {
  const jobs = await page.evaluate(() => (window as unknown as { dolphin: { finishedJobs: Array<{ jobId: string; startedAt: number; firstTokenAt: number | null }> } }).dolphin.finishedJobs);
  return new Map(jobs.map((j) => [j.jobId, (j.firstTokenAt ?? Number.NaN) - j.startedAt]));
}

async function benchTab(page: Page, backend: 'wasm' | 'webgpu', runs: number, maxTokens: number) {
  const direct: Timing[] = [];
  const network: Array<Timing & { jobId: string }> = [];
  await benchDirect(page, maxTokens, 0); // warm-up
  for (let i = 1; i <= runs; i++) {
    // Interleaved so both see the same machine state; same seed so both generate the same tokens.
    direct.push(await benchDirect(page, maxTokens, i));
    const n = await benchNetwork(maxTokens, i);
    if (n.backend !== backend) throw new Error(`expected the ${backend} tab to serve, got ${n.backend}`);
    network.push(n);
  }
  const d = summarize(direct);
  const n = summarize(network);
  const inTab = await tabSideTtft(page);
  const addedTtft = network.map((r) => r.ttftMs - (inTab.get(r.jobId) ?? Number.NaN));
  return {
    direct: d,
    network: n,
    endToEndRatio: n.decodeTokensPerSecondP50 / d.decodeTokensPerSecondP50,
    addedTtftMsP50: median(addedTtft),
    addedTtftMsP99: percentile(addedTtft, 99),
  };
}

async function openTab(browser: Awaited<ReturnType<typeof chromium.launch>>, backend: 'wasm' | 'webgpu'): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${BASE}/?autostart=1&expose=1&backend=${backend}&model=${MODEL}`);
  await page.waitForSelector('[data-testid=status][data-phase=serving]', { timeout: 180_000 });
  return page;
}

async function main() {
  const coordinator = spawn(process.execPath, ['--import', 'tsx', 'coordinator/main.ts'], { env: { ...process.env, PORT: String(PORT), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
  try {
    for (let i = 0; i < 100 && !(await fetch(`${BASE}/v1/models`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 200));
    console.error(`bench: ${MODEL}, ${RUNS} runs of ${TOKENS} tokens (WebGPU: ${WEBGPU_RUNS} of ${WEBGPU_TOKENS})`);
    const node = await benchNode(TOKENS);
    console.error('bench: onnxruntime-node done');
    // One tab at a time, so the other tab's engine does not compete for the two cores.
    const wasmPage = await openTab(browser, 'wasm');
    const wasm = await benchTab(wasmPage, 'wasm', RUNS, TOKENS);
    await wasmPage.context().close();
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
      wasm,
      webgpu,
      ratios: { wasmVsNode: wasm.direct.decodeTokensPerSecondP50 / node.decodeTokensPerSecondP50 },
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
    console.log(`\nJSON: ${file}`);
  } finally {
    await browser.close();
    coordinator.kill();
  }
}

function printTable(r: { model: string; onnxruntimeNode: ReturnType<typeof summarize>; wasm: Awaited<ReturnType<typeof benchTab>>; webgpu: Awaited<ReturnType<typeof benchTab>>; ratios: { wasmVsNode: number } }) {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
  const rows = [
    ['engine', 'decode tok/s (p50)', 'TTFT ms (p50)', 'tokens'],
    ['onnxruntime-node (CPU)', f(r.onnxruntimeNode.decodeTokensPerSecondP50), f(r.onnxruntimeNode.ttftMsP50), f(r.onnxruntimeNode.tokens, 0)],
    ['WASM, direct', f(r.wasm.direct.decodeTokensPerSecondP50), f(r.wasm.direct.ttftMsP50), f(r.wasm.direct.tokens, 0)],
    ['WASM, via coordinator', f(r.wasm.network.decodeTokensPerSecondP50), f(r.wasm.network.ttftMsP50), f(r.wasm.network.tokens, 0)],
    ['WebGPU, direct', f(r.webgpu.direct.decodeTokensPerSecondP50), f(r.webgpu.direct.ttftMsP50), f(r.webgpu.direct.tokens, 0)],
    ['WebGPU, via coordinator', f(r.webgpu.network.decodeTokensPerSecondP50), f(r.webgpu.network.ttftMsP50), f(r.webgpu.network.tokens, 0)],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  console.log(`\n${r.model}`);
  for (const row of rows) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  console.log(`\nend-to-end / direct decode speed: WASM ${f(r.wasm.endToEndRatio, 3)}, WebGPU ${f(r.webgpu.endToEndRatio, 3)}   (target ≥ 0.95)`);
  console.log(`time to first token added by the network, p50 / p99: WASM ${f(r.wasm.addedTtftMsP50)} / ${f(r.wasm.addedTtftMsP99)} ms, WebGPU ${f(r.webgpu.addedTtftMsP50)} / ${f(r.webgpu.addedTtftMsP99)} ms   (target ≤ 20 ms p50)`);
  console.log(`WASM / onnxruntime-node decode speed: ${f(r.ratios.wasmVsNode, 3)}   (target ≥ 0.5)`);
}

await main();
