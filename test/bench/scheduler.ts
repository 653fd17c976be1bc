/**
 * Scheduling decisions per second for `npm run bench` (issue #6), over a generated fleet of 10,000 tabs: mixed
 * backends, speeds (measured or not), residency, queues, visibility, pauses and contributor limits; random jobs
 * across 3 models, with a stake test as `eligible`. Target: ≥ 50,000 decisions/s.
 *
 * The headline is the coordinator's loop on FleetIndex (coordinator/schedule/scheduler.ts): choose a tab, queue the
 * job on it (set), and, to keep the fleet in a steady state, finish the oldest job still in flight, with a new
 * speed measurement for its tab (set). Also shown: FleetIndex choices alone (the fleet unchanged), and chooseTab,
 * the plain scan over the tab objects that FleetIndex must agree with (checked here on the first decisions).
 * benchBoard: the same fleet as tabs of a real JobBoard (links that drop what they are sent): jobs started through
 * JobBoard.start and finished with a `done`, the board's whole path per job (choice, queues, timers, the index).
 *   BENCH_SCHEDULER_TABS (10000)  BENCH_SCHEDULER_DECISIONS (200000)
 */
import { chooseTab, workTokens, type JobNeeds, type TabCapabilities } from '../../coordinator/schedule/scheduler.ts';
import { FleetIndex } from '../../coordinator/schedule/fleet-index.ts';
import { JobBoard, type Job } from '../../coordinator/jobs/job-board.ts';
import { TabRegistry, type Tab } from '../../coordinator/tabs/tab-registry.ts';
import { NO_LIMITS } from '../../src/protocol/tab.ts';
import { seededRandom, type Random } from '../unit/random.ts';

const TABS = Number(process.env.BENCH_SCHEDULER_TABS ?? 10_000);
const DECISIONS = Number(process.env.BENCH_SCHEDULER_DECISIONS ?? 200_000);
/** Jobs the steady-state loop keeps in flight beyond the fleet's initial queues. */
const IN_FLIGHT = 2_000;

const MODELS = [
  { model: 'dolphin-small', modelBytes: 150e6, largestTensorBytes: 40e6 },
  { model: 'dolphin-medium', modelBytes: 700e6, largestTensorBytes: 140e6 },
  { model: 'dolphin-large', modelBytes: 2.2e9, largestTensorBytes: 500e6 },
] as const;

type BenchTab = TabCapabilities & {
  tokensPerSecond: Record<string, number>;
  work: Array<{ model: string; remainingTokens: number; modelBytes?: number }>;
};

const some = (random: Random, p: number) => MODELS.filter(() => random.next() < p).map((x) => x.model);

/** A fleet: 60 % WebGPU (20-200 tokens/s), the rest WASM (2-32), large models 4× slower; 30 % of speeds unmeasured. */
export function benchFleet(random: Random, tabs: number): BenchTab[] {
  return Array.from({ length: tabs }, (_, i): BenchTab => {
    const webgpu = random.next() < 0.6;
    const loaded = random.next() < 0.8 ? [random.pick(MODELS).model] : [];
    const cached = [...new Set([...loaded, ...some(random, 0.3)])];
    const tokensPerSecond: Record<string, number> = {};
    for (const { model } of MODELS)
      if (random.next() < 0.7)
        tokensPerSecond[model] = (webgpu ? 20 + random.next() * 180 : 2 + random.next() * 30) / (model === 'dolphin-large' ? 4 : 1);
    return {
      id: `tab-${i}`,
      contributorId: `c${random.int(Math.max(1, tabs / 4))}`,
      backend: webgpu ? 'webgpu' : 'wasm',
      maxBufferBytes: webgpu ? random.pick([128e6, 256e6, 1e9, 2e9, null]) : null,
      loaded,
      cached,
      tokensPerSecond,
      work: Array.from({ length: random.int(3) }, () => ({ model: random.pick(MODELS).model, remainingTokens: random.int(512) })),
      hidden: random.next() < 0.3,
      paused: random.next() < 0.05,
      allowedModels: random.next() < 0.2 ? some(random, 0.5) : null,
      reputation: random.next(),
    };
  });
}

function timed(decisions: number, decide: (i: number) => boolean) {
  // Warm-up, so the optimizing compiler has the loop before the clock starts.
  for (let i = 0; i < Math.min(decisions, 2000); i++) decide(i);
  let chosen = 0;
  const started = performance.now();
  for (let i = 0; i < decisions; i++) if (decide(i)) chosen++;
  const seconds = (performance.now() - started) / 1000;
  return { decisions, seconds, decisionsPerSecond: decisions / seconds, chosenShare: chosen / decisions };
}

export function benchScheduler() {
  const random = seededRandom(6);
  const fleet = benchFleet(random, TABS);
  const staked = new Set(fleet.filter(() => random.next() < 0.9).map((t) => t.contributorId));
  const eligible = (tab: TabCapabilities) => staked.has(tab.contributorId);
  const jobs: JobNeeds[] = Array.from({ length: 1024 }, () => ({
    ...random.pick(MODELS),
    promptTokens: random.int(2000),
    maxTokens: 16 + random.int(1000),
    minReputation: random.next() < 0.3 ? random.next() * 0.5 : 0,
  }));
  const job = (i: number) => jobs[i % jobs.length]!;
  const index = new FleetIndex<BenchTab>();
  for (const tab of fleet) index.set(tab);

  for (let i = 0; i < 50; i++) {
    const [a, b] = [chooseTab(fleet, job(i), { eligible }), index.choose(job(i), eligible)];
    if (a?.tab !== b?.tab || a?.etaMs !== b?.etaMs)
      throw new Error(`FleetIndex chose ${b?.tab.id} (${b?.etaMs} ms), chooseTab ${a?.tab.id} (${a?.etaMs} ms)`);
  }
  const scan = timed(Math.min(DECISIONS, 500), (i) => chooseTab(fleet, job(i), { eligible }) !== null);
  const chooseOnly = timed(DECISIONS, (i) => index.choose(job(i), eligible) !== null);

  // A ring: the oldest job in flight finishes when a new one starts.
  const inFlight: BenchTab[] = [];
  let oldest = 0;
  const steady = timed(DECISIONS, (i) => {
    const j = job(i);
    const chosen = index.choose(j, eligible);
    if (chosen) {
      chosen.tab.work.push({ model: j.model, remainingTokens: workTokens(j), modelBytes: j.modelBytes });
      index.set(chosen.tab);
      if (inFlight.length < IN_FLIGHT) inFlight.push(chosen.tab);
      else {
        const tab = inFlight[oldest]!;
        inFlight[oldest] = chosen.tab;
        oldest = (oldest + 1) % IN_FLIGHT;
        finish(tab);
      }
    }
    return chosen !== null;
  });
  function finish(tab: BenchTab) {
    const done = tab.work.shift();
    if (done) {
      tab.loaded = [done.model];
      if (!tab.cached.includes(done.model)) tab.cached = [...tab.cached, done.model];
      const measured = tab.tokensPerSecond[done.model];
      tab.tokensPerSecond[done.model] =
        measured === undefined ? 5 + random.next() * 100 : 0.7 * measured + 0.3 * measured * (0.5 + random.next());
    }
    index.set(tab);
  }
  return {
    tabs: TABS,
    decisions: steady.decisions,
    seconds: steady.seconds,
    decisionsPerSecond: steady.decisionsPerSecond,
    chosenShare: steady.chosenShare,
    chooseOnly,
    chooseTab: scan,
  };
}

export function printScheduler(r: ReturnType<typeof benchScheduler> & { board?: Awaited<ReturnType<typeof benchBoard>> }) {
  const n = (x: number) => Math.round(x).toLocaleString('en');
  console.log(
    `\nscheduler, ${n(r.tabs)} tabs: ${n(r.decisions)} decisions (choose, queue, finish) in ${r.seconds.toFixed(2)} s = ${n(r.decisionsPerSecond)} decisions/s (target ≥ 50,000: ${r.decisionsPerSecond >= 50_000 ? 'met' : 'NOT met'}), a tab found for ${(r.chosenShare * 100).toFixed(1)} %`,
  );
  console.log(
    `  FleetIndex choices alone ${n(r.chooseOnly.decisionsPerSecond)}/s; chooseTab scanning the tab objects ${n(r.chooseTab.decisionsPerSecond)}/s`,
  );
  if (r.board) printBoard(r.board);
}

/** Jobs per second through a real JobBoard over the generated fleet: start one (the board chooses), finish the oldest. */
export async function benchBoard(jobsToRun = Math.min(DECISIONS, 50_000)) {
  const random = seededRandom(7);
  const fleet = benchFleet(random, TABS);
  const registry = new TabRegistry();
  const board = new JobBoard({ registry, idleTimeoutMs: 3_600_000, verifyResult: () => true, modelSize: (model) => MODELS.find((m) => m.model === model) });
  const drop = { kind: 'websocket' as const, send: () => {}, close: () => {} };
  for (const f of fleet) {
    const tab = registry.add(drop);
    Object.assign(tab, {
      ready: true,
      contributorId: f.contributorId,
      backend: f.backend,
      limits: f.maxBufferBytes === null ? null : { maxBufferSize: f.maxBufferBytes, maxStorageBufferBindingSize: f.maxBufferBytes },
      models: [...f.loaded],
      cached: [...f.cached],
      speeds: { ...f.tokensPerSecond },
      hidden: f.hidden,
      contributorLimits: { ...NO_LIMITS, paused: f.paused, models: f.allowedModels && [...f.allowedModels] },
      reputation: f.reputation,
    } satisfies Partial<Tab>);
    board.tabChanged(tab);
  }
  const inFlight: Job[] = [];
  const tabOf = new Map<string, Tab>();
  let started = 0;
  const run = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const model = MODELS[i % MODELS.length]!.model;
      const result = await board.start({ model, messages: [{ role: 'user', content: 'hi' }], params: { maxTokens: 16 + (i % 500), temperature: 1, topP: 1, topK: 0, stop: [], seed: i, topLogprobs: 0 }, promptTokens: 20 });
      if (!result.ok) continue;
      started++;
      inFlight.push(result.job);
      tabOf.set(result.job.id, registry.get(result.job.tab.id)!);
      if (inFlight.length > IN_FLIGHT) {
        const oldest = inFlight.shift()!;
        board.handle(tabOf.get(oldest.id)!, { type: 'done', jobId: oldest.id, finishReason: 'stop', text: '', promptTokens: 20, completionTokens: 0, signature: 'unchecked' });
        tabOf.delete(oldest.id);
      }
    }
  };
  await run(2_000); // warm-up
  started = 0;
  const clock = performance.now();
  await run(jobsToRun);
  const seconds = (performance.now() - clock) / 1000;
  return { tabs: TABS, jobs: jobsToRun, started, seconds, jobsPerSecond: jobsToRun / seconds };
}

function printBoard(r: Awaited<ReturnType<typeof benchBoard>>) {
  const n = (x: number) => Math.round(x).toLocaleString('en');
  console.log(`  JobBoard over ${n(r.tabs)} tabs: ${n(r.jobs)} jobs started and finished in ${r.seconds.toFixed(2)} s = ${n(r.jobsPerSecond)} jobs/s (a tab found for ${n(r.started)})`);
}
