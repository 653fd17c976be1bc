/**
 * Verification numbers for `npm run bench` (issue #4):
 *  1. Re-scoring cost: how long one teacher-forced pass over a completion takes next to generating it, on WASM in a
 *     Chromium tab and on onnxruntime-web in Node. Target: re-scoring 128 tokens ≤ 0.3 × generating them (WASM).
 *  2. Tolerance evidence: completions made on one backend (WASM, WebGPU) re-scored on the other, with the largest
 *     deviations the judge saw. Honest tabs must never reject each other; these maxima are what ε, δ, τ must cover.
 *  3. Network-wide overhead: the audited share of jobs in a steady-state honest fleet (audit-policy.ts), plus the
 *     planted transcripts (one per 1/DEFAULT_PLANT_RATE jobs), times the
 *     re-scoring cost ratio. Target ≤ 0.10 (replicating every job would cost 1.0).
 *   BENCH_VERIFY_RUNS (3)  BENCH_VERIFY_SEEDS (3)  BENCH_VERIFY_WASM_TOKENS (64)  BENCH_VERIFY_WEBGPU_TOKENS (16)
 */
import type { Browser, Page } from 'playwright-core';
import { loadNodeModel } from '../support/node-model.ts';
import { runChatTask } from '../../worker/runtime.ts';
import { rescore } from '../../worker/verify/rescore.ts';
import { DEFAULT_AUDIT_POLICY, expectedAuditShare } from '../../coordinator/trust/audit-policy.ts';
import { VERIFICATION_TOLERANCES } from '../../coordinator/trust/tolerances.ts';
import { DEFAULT_PLANT_RATE } from '../../coordinator/trust/audit-decision.ts';
import type { ChatTask, InferenceWorkerApi, RescoreVerdict } from '../../src/protocol/worker.ts';
import type { SamplingParams } from '../../src/protocol/tab.ts';
import { median } from './stats.ts';
import { expectedFleetShare, simulateFleet } from './audit-fleet.ts';

const RUNS = Number(process.env.BENCH_VERIFY_RUNS ?? 3);
const SEEDS = Number(process.env.BENCH_VERIFY_SEEDS ?? 3);
const WASM_TOKENS = Number(process.env.BENCH_VERIFY_WASM_TOKENS ?? 64);
const WEBGPU_TOKENS = Number(process.env.BENCH_VERIFY_WEBGPU_TOKENS ?? 16);
const WARM_UP_MS = Number(process.env.BENCH_WARM_UP_MS ?? 5000);
/** The network's tolerances (coordinator/trust/tolerances.ts), which part 2 puts to the test. */
const TOLERANCES = VERIFICATION_TOLERANCES;
const COST_TOKENS = [128, 512] as const;
/** Seeds tried per wanted run before settling for a completion that ended early. */
const SEED_TRIES = 8;

const messages = [{ role: 'user' as const, content: 'Write a short story about a dolphin who learns to surf the waves at dawn.' }];
const task = (model: string, maxTokens: number, seed: number, temperature = 0.7): ChatTask => {
  const params: SamplingParams = { maxTokens, temperature, topP: temperature === 0 ? 1 : 0.95, topK: 0, stop: [], seed, topLogprobs: 0 };
  return { model, messages, params };
};

/** A generated completion as a verifier receives it, and how long generating it took. */
interface Transcript {
  task: ChatTask;
  tokens: Array<{ id: number; logprob: number }>;
  finishReason: 'stop' | 'length';
  completionTokens: number;
  generationMs: number;
}

/** Somewhere a model runs: generates a completion, or re-scores one (timed from the call to the verdict). */
interface Verifier {
  generate(task: ChatTask): Promise<Transcript>;
  rescore(transcript: Transcript): Promise<{ ms: number; verdict: RescoreVerdict }>;
}

type ExposedTab = { dolphin: { worker: InferenceWorkerApi } };

/** A tab's worker through `?expose=1`, without joining the network (no coordinator jobs reach it). */
async function openVerifierTab(browser: Browser, base: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${base}/?expose=1`);
  await page.waitForFunction(() => 'dolphin' in window);
  return page;
}

async function loadInTab(page: Page, modelId: string, backend: 'wasm' | 'webgpu') {
  return page.evaluate(async (request) => (window as unknown as ExposedTab).dolphin.worker.load({ ...request, baseUrl: location.origin }), { modelId, backend });
}

function tabVerifier(page: Page): Verifier {
  return {
    generate: (task) =>
      page.evaluate(async (task) => {
        const tokens: Array<{ index: number; id: number; logprob: number }> = [];
        const started = performance.now();
        const result = await (window as unknown as ExposedTab).dolphin.worker.run(`verify-${Math.random()}`, task, (batch) => tokens.push(...batch.map(({ index, id, logprob }) => ({ index, id, logprob }))));
        const generationMs = performance.now() - started;
        tokens.sort((a, b) => a.index - b.index);
        return { task, tokens: tokens.map(({ id, logprob }) => ({ id, logprob })), finishReason: result.finishReason, completionTokens: result.completionTokens, generationMs };
      }, task),
    rescore: (t) =>
      page.evaluate(
        async (request) => {
          const started = performance.now();
          const verdict = await (window as unknown as ExposedTab).dolphin.worker.rescore(request);
          return { ms: performance.now() - started, verdict };
        },
        { ...t.task, tokens: t.tokens, finishReason: t.finishReason, completionTokens: t.completionTokens, tolerances: TOLERANCES },
      ),
  };
}

/** The same runtime on onnxruntime-web (WASM, one thread) in Node: no browser, worker or comlink in between. */
async function nodeVerifier(modelId: string): Promise<Verifier & { dispose(): Promise<void> }> {
  const model = await loadNodeModel(modelId, 'onnxruntime-web');
  return {
    async generate(task) {
      const tokens: Transcript['tokens'] = [];
      const started = performance.now();
      const result = await runChatTask(model, task, ({ id, logprob }) => tokens.push({ id, logprob }));
      return { task, tokens, finishReason: result.finishReason, completionTokens: result.completionTokens, generationMs: performance.now() - started };
    },
    async rescore(t) {
      const started = performance.now();
      const verdict = await rescore(model, { ...t.task, tokens: t.tokens, finishReason: t.finishReason, completionTokens: t.completionTokens }, TOLERANCES);
      return { ms: performance.now() - started, verdict };
    },
    dispose: () => model.engine.dispose(),
  };
}

/**
 * Generation vs re-scoring of the same transcript, `runs` times after a warm-up (at least one pair and WARM_UP_MS,
 * as the engine bench does: V8 moves hot WASM up its compiler tiers only after a while, and a cold first run would
 * make generation look slow and the ratio look better than it is). Random weights can end a
 * completion early, so seeds 1, 2, 3… are tried in order and one that ends before `maxTokens` is skipped (the
 * generation was the check); after SEED_TRIES misses the short transcript is used and its length reported.
 */
async function rescoreCost(verifier: Verifier, model: string, maxTokens: number, runs: number) {
  const warmUpStart = performance.now();
  do await verifier.rescore(await verifier.generate(task(model, maxTokens, 0)));
  while (performance.now() - warmUpStart < WARM_UP_MS);
  const measured: Array<{ seed: number; tokens: number; generationMs: number; rescoreMs: number; accepted: boolean }> = [];
  const skippedSeeds: number[] = [];
  let seed = 1;
  for (let run = 0; run < runs; run++) {
    let transcript = await verifier.generate(task(model, maxTokens, seed));
    for (let tries = 1; transcript.tokens.length < maxTokens && tries < SEED_TRIES; tries++) {
      skippedSeeds.push(seed++);
      transcript = await verifier.generate(task(model, maxTokens, seed));
    }
    const { ms, verdict } = await verifier.rescore(transcript);
    measured.push({ seed: seed++, tokens: transcript.tokens.length, generationMs: transcript.generationMs, rescoreMs: ms, accepted: verdict.ok });
  }
  return {
    maxTokens,
    runs: measured,
    skippedSeeds,
    generationMsP50: median(measured.map((m) => m.generationMs)),
    rescoreMsP50: median(measured.map((m) => m.rescoreMs)),
    /** Per run, re-scoring / generating the same transcript; the p50 of those. */
    ratioP50: median(measured.map((m) => m.rescoreMs / m.generationMs)),
  };
}

const costRows = async (verifier: Verifier, model: string) => {
  const rows = [];
  for (const n of COST_TOKENS) rows.push(await rescoreCost(verifier, model, n, RUNS));
  return rows;
};

/** Part 1: the WASM tab alone (nothing else in the browser competes for the cores), then Node. */
async function benchRescoreCost(browser: Browser, base: string, model: string) {
  const page = await openVerifierTab(browser, base);
  const { wasmThreads } = await loadInTab(page, model, 'wasm');
  const wasmTab = { wasmThreads, rows: await costRows(tabVerifier(page), model) };
  await page.context().close();
  const node = await nodeVerifier(model);
  const nodeWeb = { wasmThreads: 1, rows: await costRows(node, model) };
  await node.dispose();
  return { wasmTab, nodeWeb };
}

/** The largest deviations over many verdicts, and how many were accepted. */
function deviationSummary(verdicts: Array<RescoreVerdict & { tokens: number }>) {
  return {
    transcripts: verdicts.length,
    tokens: verdicts.reduce((sum, v) => sum + v.tokens, 0),
    accepted: verdicts.filter((v) => v.ok).length,
    maxIntervalDistance: Math.max(0, ...verdicts.map((v) => v.maxIntervalDistance)),
    maxLogitGap: Math.max(0, ...verdicts.map((v) => v.maxLogitGap)),
    maxLogprobDeviation: Math.max(0, ...verdicts.map((v) => v.maxLogprobDeviation)),
    failures: verdicts.flatMap((v) => (v.firstFailure ? [v.firstFailure] : [])),
  };
}

/**
 * Part 2, for one model: each backend generates (SEEDS seeds × temperature 0 and 0.8; WebGPU on SwiftShader is
 * slow, so its completions are short) and the other backend re-scores every transcript. Fresh tabs per model: a
 * worker cannot load a second model on WebGPU (onnxruntime-web makes `env.webgpu.adapter` read-only once its
 * WebGPU backend starts, and the worker assigns it on every WebGPU load).
 */
async function crossBackend(browser: Browser, base: string, model: string) {
  const tabs = { wasm: await openVerifierTab(browser, base), webgpu: await openVerifierTab(browser, base) };
  try {
    for (const backend of ['wasm', 'webgpu'] as const) await loadInTab(tabs[backend], model, backend);
    const directions = [];
    for (const [producer, verifier, maxTokens] of [['wasm', 'webgpu', WASM_TOKENS], ['webgpu', 'wasm', WEBGPU_TOKENS]] as const) {
      const verdicts: Array<RescoreVerdict & { tokens: number }> = [];
      for (const temperature of [0, 0.8])
        for (let seed = 1; seed <= SEEDS; seed++) {
          const transcript = await tabVerifier(tabs[producer]).generate(task(model, maxTokens, seed, temperature));
          const { verdict } = await tabVerifier(tabs[verifier]).rescore(transcript);
          verdicts.push({ ...verdict, tokens: transcript.tokens.length });
        }
      directions.push({ model, producer, verifier, maxTokens, ...deviationSummary(verdicts) });
    }
    return directions;
  } finally {
    await Promise.all(Object.values(tabs).map((p) => p.context().close()));
  }
}

async function benchTolerance(browser: Browser, base: string) {
  const directions: Awaited<ReturnType<typeof crossBackend>> = [];
  for (const model of ['dolphin-tiny', 'dolphin-small']) {
    directions.push(...(await crossBackend(browser, base, model)));
    console.error(`bench: verify tolerance ${model} done`);
  }
  const sum = (key: 'transcripts' | 'accepted') => directions.reduce((total, d) => total + d[key], 0);
  const max = (key: 'maxIntervalDistance' | 'maxLogitGap' | 'maxLogprobDeviation') => Math.max(...directions.map((d) => d[key]));
  const all = { transcripts: sum('transcripts'), accepted: sum('accepted'), maxIntervalDistance: max('maxIntervalDistance'), maxLogitGap: max('maxLogitGap'), maxLogprobDeviation: max('maxLogprobDeviation') };
  return { tolerances: TOLERANCES, seeds: SEEDS, temperatures: [0, 0.8], directions, all };
}

function networkOverhead(rescoreRatio128: number) {
  const fleet = { identities: 1000, meanLifetimeJobs: 500, jobs: 2_000_000, policy: DEFAULT_AUDIT_POLICY, seed: 4 };
  const auditedShare = simulateFleet(fleet);
  // Every audited job is re-scored once (honest fleet: no second verifier), and so is every planted transcript.
  const plantedShare = DEFAULT_PLANT_RATE;
  const overhead = (auditedShare + plantedShare) * rescoreRatio128;
  return {
    fleet,
    auditedShare,
    plantedShare,
    expectedAuditedShare: expectedFleetShare(DEFAULT_AUDIT_POLICY, fleet.meanLifetimeJobs),
    /** One identity serving 500 jobs, for comparison (no lifetime spread). */
    oneIdentity500Jobs: expectedAuditShare(DEFAULT_AUDIT_POLICY, 500),
    rescoreRatio128,
    overhead,
  };
}

export async function benchVerify(browser: Browser, base: string, model: string) {
  const cost = await benchRescoreCost(browser, base, model);
  console.error('bench: verify cost done');
  const tolerance = await benchTolerance(browser, base);
  const ratio128 = cost.wasmTab.rows.find((r) => r.maxTokens === 128)?.ratioP50 ?? Number.NaN;
  const network = networkOverhead(ratio128);
  return {
    model,
    cost,
    tolerance,
    network,
    targets: { rescore128AtMost30PercentOfGeneration: ratio128 <= 0.3, allCrossBackendAccepted: tolerance.all.accepted === tolerance.all.transcripts, networkOverheadAtMost10Percent: network.overhead <= 0.1 },
  };
}

export function printVerify(r: Awaited<ReturnType<typeof benchVerify>>) {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
  const g = (n: number) => (n === 0 ? '0' : n.toExponential(2));
  const table = (rows: string[][]) => {
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
    for (const x of rows) console.log(x.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  };
  const costRow = (name: string, row: (typeof r.cost.wasmTab.rows)[number]) => [
    `${name}, ${row.maxTokens} tok`,
    f(median(row.runs.map((x) => x.tokens)), 0),
    f(row.generationMsP50),
    f(row.rescoreMsP50),
    f(row.ratioP50, 3),
    `${row.runs.filter((x) => x.accepted).length}/${row.runs.length}`,
  ];
  console.log(`\nre-scoring cost, ${r.model} (p50 of ${RUNS} runs)`);
  table([
    ['where', 'tokens', 'generate ms', 'rescore ms', 'ratio', 'accepted'],
    ...r.cost.wasmTab.rows.map((row) => costRow(`WASM tab, ${r.cost.wasmTab.wasmThreads}t`, row)),
    ...r.cost.nodeWeb.rows.map((row) => costRow('onnxruntime-web in Node, 1t', row)),
  ]);
  console.log(`re-scoring 128 tokens / generating them on WASM (target ≤ 0.3): ${f(r.network.rescoreRatio128, 3)} — ${r.targets.rescore128AtMost30PercentOfGeneration ? 'met' : 'NOT met'}`);
  const t = r.tolerance;
  console.log(`\ncross-backend re-scoring (seeds 1–${t.seeds} × temperature ${t.temperatures.join(', ')}; ε=${t.tolerances.epsilon} δ=${t.tolerances.delta} τ=${t.tolerances.tau})`);
  table([
    ['model: generated → re-scored', 'transcripts', 'tokens', 'accepted', 'max interval dist', 'max logit gap', 'max logprob dev'],
    ...t.directions.map((d) => [`${d.model}: ${d.producer} (${d.maxTokens} tok) → ${d.verifier}`, String(d.transcripts), String(d.tokens), String(d.accepted), g(d.maxIntervalDistance), g(d.maxLogitGap), g(d.maxLogprobDeviation)]),
    ['all', String(t.all.transcripts), '', String(t.all.accepted), g(t.all.maxIntervalDistance), g(t.all.maxLogitGap), g(t.all.maxLogprobDeviation)],
  ]);
  for (const d of t.directions) if (d.failures.length) console.log(`  rejected (${d.model}, ${d.producer} → ${d.verifier}): ${d.failures.map((x) => `${x.reason}@${x.position}`).join(', ')}`);
  const n = r.network;
  console.log(
    `\naudited share, ${n.fleet.identities} honest identities, geometric lifetimes of mean ${n.fleet.meanLifetimeJobs} jobs: ${f(100 * n.auditedShare, 2)}% simulated (${f(100 * n.expectedAuditedShare, 2)}% from expectations)`,
  );
  console.log(`network-wide verification overhead = (${f(n.auditedShare, 4)} audited + ${f(n.plantedShare, 4)} planted) × ${f(n.rescoreRatio128, 3)} = ${f(n.overhead, 4)} of generation (target ≤ 0.10; replication 1.0) — ${r.targets.networkOverheadAtMost10Percent ? 'met' : 'NOT met'}`);
}
