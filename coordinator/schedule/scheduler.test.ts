import { describe, expect, it } from 'vitest';
import { seededRandom, type Random } from '../../test/unit/random.ts';
import {
  chooseTab,
  DEFAULT_SCHEDULER_MODEL,
  expectedCompletionMs,
  unfit,
  WEBGPU_DEFAULT_MAX_BUFFER_BYTES,
  workTokens,
  type JobNeeds,
  type SchedulerModel,
  type TabCapabilities,
} from './scheduler.ts';
import { FleetIndex } from './fleet-index.ts';

type Work = TabCapabilities['work'][number];

const tab = (id: string, fields: Partial<TabCapabilities> = {}): TabCapabilities => ({
  id,
  contributorId: `c-${id}`,
  backend: 'webgpu',
  maxBufferBytes: 1e9,
  loaded: ['m'],
  cached: ['m'],
  tokensPerSecond: { m: 20 },
  work: [],
  hidden: false,
  paused: false,
  allowedModels: null,
  reputation: 0.5,
  ...fields,
});

// 80 prompt tokens at 8× count 10: 110 decode-token equivalents; 100 MB loads in 500 ms and downloads in 10 s.
const job = (fields: Partial<JobNeeds> = {}): JobNeeds => ({
  model: 'm',
  modelBytes: 100e6,
  largestTensorBytes: 20e6,
  promptTokens: 80,
  maxTokens: 100,
  ...fields,
});
const eta = (t: TabCapabilities, j: JobNeeds = job(), model?: SchedulerModel) => expectedCompletionMs(t, j, model);
const pickedId = (tabs: TabCapabilities[], j: JobNeeds = job(), options: Parameters<typeof chooseTab>[2] = {}) =>
  chooseTab(tabs, j, options)?.tab.id ?? null;
/** The pick must not depend on the order the tabs come in. */
const pickedInEveryOrder = (tabs: TabCapabilities[], j: JobNeeds = job()) => {
  const forward = pickedId(tabs, j);
  expect(pickedId([...tabs].reverse(), j)).toBe(forward);
  return forward;
};

describe('workTokens', () => {
  it('counts the prompt at the prefill speed-up and max_tokens in full', () => {
    expect(workTokens(job())).toBe(110);
    expect(workTokens(job({ promptTokens: 0, maxTokens: 7 }))).toBe(7);
    expect(workTokens(job(), { ...DEFAULT_SCHEDULER_MODEL, expectedTokensFraction: 0.5, prefillSpeedup: 4 })).toBe(70);
  });
});

describe('expectedCompletionMs', () => {
  it('is the job at the measured speed on an idle tab that has the model loaded', () => {
    expect(eta(tab('a'))).toBe(5500);
    expect(eta(tab('a', { tokensPerSecond: { m: 110 } }))).toBe(1000);
  });

  it('takes a model the tab has not measured to run at the conservative unmeasured speed', () => {
    expect(eta(tab('a', { tokensPerSecond: {} }))).toBe((110 / DEFAULT_SCHEDULER_MODEL.unmeasuredTokensPerSecond) * 1000);
    expect(eta(tab('a', { tokensPerSecond: { other: 500 } }))).toBe(22_000);
  });

  it('treats a speed that is zero, negative or not finite as not measured, and reads no Object member as a speed', () => {
    for (const bad of [0, -3, Number.NaN, Infinity]) expect(eta(tab('a', { tokensPerSecond: { m: bad } }))).toBe(22_000);
    const named = tab('a', { loaded: ['constructor'], cached: ['constructor'], tokensPerSecond: {} });
    expect(eta(named, job({ model: 'constructor' }))).toBe(22_000);
    expect(eta(named, job({ model: 'toString' }))).toBe(22_000 + 10_500);
  });

  it('adds loading from the cache for a cached model, and downloading too for one the tab does not have', () => {
    expect(eta(tab('a', { loaded: [] }))).toBe(5500 + 500);
    expect(eta(tab('a', { loaded: ['other'] }))).toBe(5500 + 500);
    expect(eta(tab('a', { loaded: [], cached: [] }))).toBe(5500 + 500 + 10_000);
    expect(eta(tab('a', { loaded: ['other'], cached: ['other'] }))).toBe(5500 + 500 + 10_000);
  });

  it('takes a loaded model to be cached, and any loaded model to be ready when the queue is empty', () => {
    expect(eta(tab('a', { loaded: ['m'], cached: [] }))).toBe(5500);
    expect(eta(tab('a', { loaded: ['other', 'm'], cached: [] }))).toBe(5500);
  });

  it('slows a hidden tab: its compute and loading, not its download', () => {
    const slow = DEFAULT_SCHEDULER_MODEL.hiddenSlowdown;
    expect(eta(tab('a', { hidden: true }))).toBe(5500 * slow);
    expect(eta(tab('a', { hidden: true, loaded: [] }))).toBe((5500 + 500) * slow);
    expect(eta(tab('a', { hidden: true, loaded: [], cached: [] }))).toBe((5500 + 500) * slow + 10_000);
    expect(eta(tab('a', { hidden: true, work: [{ model: 'm', remainingTokens: 20 }] }))).toBe((1000 + 5500) * slow);
  });

  it("adds the queue's remaining work at the tab's speed for each job's model", () => {
    expect(eta(tab('a', { work: [{ model: 'm', remainingTokens: 40 }] }))).toBe(2000 + 5500);
    // The queue ends on another model: its 40 tokens at 10/s, then m back from the cache.
    const other = tab('a', { tokensPerSecond: { m: 20, other: 10 }, work: [{ model: 'other', remainingTokens: 40 }] });
    expect(eta(other)).toBe(4000 + 500 + 5500);
    // ... even though m is still in `loaded`: the engine serves one model at a time.
    expect(eta({ ...other, loaded: ['m', 'other'] })).toBe(4000 + 500 + 5500);
    // Nothing left of the running job: only its slot.
    expect(eta(tab('a', { work: [{ model: 'm', remainingTokens: 0 }] }))).toBe(5500);
  });

  it("counts a waiting job's model switch when its entry gives the model's size", () => {
    const model = { ...DEFAULT_SCHEDULER_MODEL, maxQueuePerTab: 3 };
    const tokensPerSecond = { m: 20, other: 10 };
    const running: Work = { model: 'm', remainingTokens: 40 };
    // other (50 MB) is not cached: 250 ms to load, 5 s to download, 4 s of work; then m back from the cache.
    expect(
      eta(tab('a', { tokensPerSecond, work: [running, { model: 'other', remainingTokens: 40, modelBytes: 50e6 }] }), job(), model),
    ).toBe(2000 + 250 + 5000 + 4000 + 500 + 5500);
    expect(
      eta(
        tab('a', { tokensPerSecond, cached: ['m', 'other'], work: [running, { model: 'other', remainingTokens: 40, modelBytes: 50e6 }] }),
        job(),
        model,
      ),
    ).toBe(2000 + 250 + 4000 + 500 + 5500);
    expect(eta(tab('a', { tokensPerSecond, work: [running, { model: 'other', remainingTokens: 40 }] }), job(), model)).toBe(
      2000 + 4000 + 500 + 5500,
    );
    expect(eta(tab('a', { tokensPerSecond, work: [running, { model: 'm', remainingTokens: 40, modelBytes: 100e6 }] }), job(), model)).toBe(
      2000 + 2000 + 5500,
    );
  });

  it("counts the running job's load while its model is not in the engine yet, when its entry gives the size", () => {
    const tokensPerSecond = { m: 20, other: 10 };
    // other (50 MB), not cached: 250 ms to load, 5 s to download, 4 s of work; then m back from the cache.
    expect(eta(tab('a', { tokensPerSecond, work: [{ model: 'other', remainingTokens: 40, modelBytes: 50e6 }] }))).toBe(
      250 + 5000 + 4000 + 500 + 5500,
    );
    expect(eta(tab('a', { tokensPerSecond, loaded: ['other'], work: [{ model: 'other', remainingTokens: 40, modelBytes: 50e6 }] }))).toBe(
      4000 + 500 + 5500,
    );
    expect(eta(tab('a', { tokensPerSecond, loaded: [], work: [{ model: 'm', remainingTokens: 40, modelBytes: 100e6 }] }))).toBe(
      500 + 2000 + 5500,
    );
  });

  it('follows the model constants', () => {
    const model: SchedulerModel = {
      ...DEFAULT_SCHEDULER_MODEL,
      expectedTokensFraction: 0.5,
      prefillSpeedup: 4,
      downloadBytesPerSecond: 50e6,
      cachedLoadBytesPerSecond: 100e6,
    };
    expect(eta(tab('a', { loaded: [], cached: [] }), job(), model)).toBe((70 / 20) * 1000 + 1000 + 2000);
  });

  it('is Infinity when the tab cannot take the job', () => {
    expect(eta(tab('a', { paused: true }))).toBe(Infinity);
    expect(eta(tab('a', { allowedModels: ['other'] }))).toBe(Infinity);
    expect(eta(tab('a', { maxBufferBytes: 1e6 }))).toBe(Infinity);
    expect(eta(tab('a'), job({ minReputation: 0.9 }))).toBe(Infinity);
    expect(
      eta(
        tab('a', {
          work: [
            { model: 'm', remainingTokens: 1 },
            { model: 'm', remainingTokens: 1 },
          ],
        }),
      ),
    ).toBe(Infinity);
    expect(eta(tab('a', { backend: null }))).toBe(Infinity);
  });
});

describe('unfit', () => {
  it('is null for a tab that can take the job', () => {
    expect(unfit(tab('a'), job())).toBeNull();
    expect(unfit(tab('a', { hidden: true, loaded: [], cached: [], tokensPerSecond: {} }), job())).toBeNull();
    expect(unfit(tab('a', { work: [{ model: 'other', remainingTokens: 500 }] }), job())).toBeNull();
  });

  it('names each reason', () => {
    expect(unfit(tab('a', { backend: null }), job())).toBe('no backend reported');
    expect(unfit(tab('a', { paused: true }), job())).toBe('paused');
    expect(unfit(tab('a', { allowedModels: ['other'] }), job())).toBe('model m not allowed by the contributor');
    expect(unfit(tab('a', { allowedModels: [] }), job())).toBe('model m not allowed by the contributor');
    expect(unfit(tab('a', { maxBufferBytes: 10e6 }), job())).toBe(
      'not enough memory: a 20000000-byte tensor exceeds the largest GPU buffer (10000000 bytes)',
    );
    expect(unfit(tab('a', { reputation: 0.3 }), job({ minReputation: 0.5 }))).toBe("reputation 0.3 below the job's minimum 0.5");
    expect(
      unfit(
        tab('a', {
          work: [
            { model: 'm', remainingTokens: 1 },
            { model: 'm', remainingTokens: 1 },
          ],
        }),
        job(),
      ),
    ).toBe('queue full (2 of 2)');
    expect(unfit(tab('a'), job(), () => false)).toBe('not eligible (stake)');
  });

  it('lets the allowed models, the queue limit and the WASM memory come from the model and the tab', () => {
    expect(unfit(tab('a', { allowedModels: ['other', 'm'] }), job())).toBeNull();
    const two: Work[] = [
      { model: 'm', remainingTokens: 1 },
      { model: 'm', remainingTokens: 1 },
    ];
    expect(unfit(tab('a', { work: two }), job(), undefined, { ...DEFAULT_SCHEDULER_MODEL, maxQueuePerTab: 3 })).toBeNull();
    expect(unfit(tab('a', { work: [] }), job(), undefined, { ...DEFAULT_SCHEDULER_MODEL, maxQueuePerTab: 0 })).toBe('queue full (0 of 0)');
  });

  it('gives a WebGPU tab that did not report its buffer limit the limit every adapter has', () => {
    expect(unfit(tab('a', { maxBufferBytes: null }), job({ largestTensorBytes: WEBGPU_DEFAULT_MAX_BUFFER_BYTES }))).toBeNull();
    expect(unfit(tab('a', { maxBufferBytes: null }), job({ largestTensorBytes: WEBGPU_DEFAULT_MAX_BUFFER_BYTES + 1 }))).toMatch(
      /^not enough memory/,
    );
    expect(unfit(tab('a', { maxBufferBytes: 2e9 }), job({ largestTensorBytes: 1e9 }))).toBeNull();
  });

  it('holds a WASM tab to its memory for the whole model, whatever GPU buffer it reported', () => {
    const wasm = tab('a', { backend: 'wasm', maxBufferBytes: null });
    expect(unfit(wasm, job({ modelBytes: 3e9, largestTensorBytes: 1e9 }))).toBeNull();
    expect(unfit({ ...wasm, maxBufferBytes: 1 }, job({ modelBytes: 3e9, largestTensorBytes: 1e9 }))).toBeNull();
    expect(unfit(wasm, job({ modelBytes: 5e9 }))).toBe(
      'not enough memory: a 5000000000-byte model exceeds the WASM memory (4294967296 bytes)',
    );
    expect(unfit(wasm, job({ modelBytes: 5e9 }), undefined, { ...DEFAULT_SCHEDULER_MODEL, wasmMemoryBytes: 16 * 2 ** 30 })).toBeNull();
  });

  it('holds a tab whose reputation is not a number to no minimum: it takes no job', () => {
    expect(unfit(tab('a', { reputation: Number.NaN }), job())).toBe("reputation NaN below the job's minimum 0");
    expect(unfit(tab('a', { reputation: 0 }), job())).toBeNull();
    expect(unfit(tab('a', { reputation: 0.5 }), job({ minReputation: 0.5 }))).toBeNull();
  });

  it('asks eligible last, with the tab, only when nothing else rules it out', () => {
    const asked: string[] = [];
    const eligible = (t: TabCapabilities) => (asked.push(t.id), true);
    expect(unfit(tab('a', { paused: true }), job(), eligible)).toBe('paused');
    expect(unfit(tab('b'), job(), eligible)).toBeNull();
    expect(asked).toEqual(['b']);
  });
});

describe('chooseTab', () => {
  it('returns null for no tabs, and for tabs that all cannot take the job', () => {
    expect(chooseTab([], job())).toBeNull();
    const tabs = [
      tab('paused', { paused: true }),
      tab('other-only', { allowedModels: ['other'] }),
      tab('small', { maxBufferBytes: 1e6 }),
      tab('low', { reputation: 0.1 }),
      tab('full', {
        work: [
          { model: 'm', remainingTokens: 1 },
          { model: 'm', remainingTokens: 1 },
        ],
      }),
      tab('no-backend', { backend: null }),
      tab('unstaked'),
    ];
    expect(chooseTab(tabs, job({ minReputation: 0.2 }), { eligible: (t) => t.id !== 'unstaked' })).toBeNull();
  });

  it('returns the tab object itself with its expected completion time', () => {
    const only = tab('only', { loaded: [] });
    expect(chooseTab([only], job())).toEqual({ tab: only, etaMs: 6000 });
    expect(chooseTab([only], job())?.tab).toBe(only);
  });

  it('prefers, at equal speed, the model loaded over cached over to download', () => {
    const loaded = tab('loaded');
    const cached = tab('cached', { loaded: ['other'] });
    const download = tab('download', { loaded: [], cached: [] });
    expect(pickedInEveryOrder([download, cached, loaded])).toBe('loaded');
    expect(pickedInEveryOrder([download, cached])).toBe('cached');
  });

  it('sends a long job to a much faster tab that must download the model, a short one to the slow tab that has it', () => {
    const slowLoaded = tab('slow-loaded', { tokensPerSecond: { m: 10 } });
    const fastBare = tab('fast-bare', { loaded: [], cached: [], tokensPerSecond: { m: 200 } });
    // 2,010 tokens: 201 s on the slow tab; 10.5 s to fetch and load, then 10.05 s, on the fast one.
    expect(pickedInEveryOrder([slowLoaded, fastBare], job({ maxTokens: 2000 }))).toBe('fast-bare');
    // 30 tokens: 3 s against 10.65 s.
    expect(pickedInEveryOrder([slowLoaded, fastBare], job({ maxTokens: 20 }))).toBe('slow-loaded');
  });

  it('prefers a visible tab to a hidden one of the same speed, but a hidden tab far faster still wins', () => {
    expect(pickedInEveryOrder([tab('hidden', { hidden: true }), tab('visible')])).toBe('visible');
    expect(pickedInEveryOrder([tab('hidden', { hidden: true, tokensPerSecond: { m: 100 } }), tab('visible')])).toBe('hidden');
  });

  it('weighs a busy tab by its queue: an idle slower tab wins over a long queue, not over a short one', () => {
    const idle = tab('idle', { tokensPerSecond: { m: 10 } }); // 11 s
    expect(pickedInEveryOrder([idle, tab('busy', { tokensPerSecond: { m: 40 }, work: [{ model: 'm', remainingTokens: 400 }] })])).toBe(
      'idle',
    ); // 10 + 2.75 s
    expect(pickedInEveryOrder([idle, tab('busy', { tokensPerSecond: { m: 40 }, work: [{ model: 'm', remainingTokens: 200 }] })])).toBe(
      'busy',
    ); // 5 + 2.75 s
  });

  it('prefers a measured tab to an unmeasured one that is not known to be faster', () => {
    expect(pickedInEveryOrder([tab('unmeasured', { tokensPerSecond: {} }), tab('measured', { tokensPerSecond: { m: 6 } })])).toBe(
      'measured',
    );
  });

  it('breaks a tie by the higher reputation, then by the smaller id, whatever the order', () => {
    expect(pickedInEveryOrder([tab('a', { reputation: 0.5 }), tab('b', { reputation: 0.9 }), tab('c', { reputation: 0.7 })])).toBe('b');
    expect(pickedInEveryOrder([tab('c'), tab('a'), tab('b')])).toBe('a');
    expect(pickedInEveryOrder([tab('tab-10'), tab('tab-9')])).toBe('tab-10');
  });

  it('never picks a tab that cannot take the job, however fast', () => {
    const fast = { tokensPerSecond: { m: 1000 } };
    const slow = tab('slow', { tokensPerSecond: { m: 1 } });
    const j = job({ minReputation: 0.4 });
    for (const bad of [
      tab('paused', { ...fast, paused: true }),
      tab('not-allowed', { ...fast, allowedModels: ['other'] }),
      tab('small', { ...fast, maxBufferBytes: 1e6 }),
      tab('low', { ...fast, reputation: 0.3 }),
      tab('full', {
        ...fast,
        work: [
          { model: 'm', remainingTokens: 0 },
          { model: 'm', remainingTokens: 0 },
        ],
      }),
      tab('no-backend', { ...fast, backend: null }),
    ]) {
      expect(unfit(bad, j)).not.toBeNull();
      expect(pickedInEveryOrder([bad, slow], j)).toBe('slow');
    }
    const unstaked = tab('unstaked', fast);
    expect(pickedId([unstaked, slow], j, { eligible: (t) => t !== unstaked })).toBe('slow');
    expect(pickedId([unstaked, slow], j)).toBe('unstaked');
  });

  it('asks eligible only of a tab that would be the best so far', () => {
    const asked: string[] = [];
    const tabs = [
      tab('fast', { tokensPerSecond: { m: 100 } }),
      tab('slower', { tokensPerSecond: { m: 50 } }),
      tab('slowest', { tokensPerSecond: { m: 10 } }),
    ];
    expect(pickedId(tabs, job(), { eligible: (t) => (asked.push(t.id), true) })).toBe('fast');
    expect(asked).toEqual(['fast']);
  });

  it('uses the model it is given', () => {
    const hidden = tab('hidden', { hidden: true, tokensPerSecond: { m: 30 } });
    const visible = tab('visible');
    expect(pickedId([hidden, visible])).toBe('visible');
    expect(pickedId([hidden, visible], job(), { model: { ...DEFAULT_SCHEDULER_MODEL, hiddenSlowdown: 1 } })).toBe('hidden');
  });
});

// Generated fleets. Speeds, reputations and queues come from small sets, so that equal ETAs (and the tie rule) are common.
const MODELS = ['a', 'b', 'c'] as const;
const subset = (random: Random, p: number, names: readonly string[] = MODELS) => names.filter(() => random.next() < p);

function generatedTab(random: Random, i: number): TabCapabilities {
  const tokensPerSecond: Record<string, number> = {};
  for (const m of MODELS)
    if (random.next() < 0.7) tokensPerSecond[m] = random.next() < 0.5 ? random.pick([5, 10, 20, 40, 80, 160]) : 1 + random.next() * 200;
  const loaded = random.next() < 0.8 ? [random.pick(MODELS)] : [];
  const work: Work[] = Array.from({ length: random.pick([0, 0, 0, 1, 1, 2]) }, () => ({
    model: random.pick(MODELS),
    remainingTokens: random.pick([0, 50, 100, random.int(1000)]),
    ...(random.next() < 0.5 ? { modelBytes: random.pick([50e6, 500e6]) } : {}),
  }));
  return {
    id: `t${random.int(1_000_000)}-${i}`,
    contributorId: `c${random.int(50)}`,
    backend: random.next() < 0.03 ? null : random.next() < 0.6 ? 'webgpu' : 'wasm',
    maxBufferBytes: random.pick([null, 128e6, 256e6, 1e9, 4e9]),
    loaded,
    cached: random.next() < 0.5 ? [...loaded, ...subset(random, 0.4)] : subset(random, 0.3),
    tokensPerSecond,
    work,
    hidden: random.next() < 0.3,
    paused: random.next() < 0.05,
    allowedModels: random.next() < 0.15 ? subset(random, 0.5) : null,
    reputation: random.next() < 0.02 ? Number.NaN : random.pick([0, 0.25, 0.5, 0.5, 0.75, 1, random.next()]),
  };
}

function generatedJob(random: Random): JobNeeds {
  return {
    model: random.next() < 0.05 ? 'unknown' : random.pick(MODELS),
    modelBytes: random.pick([100e6, 800e6, 3e9, 5e9]),
    // 8 GB: no tab can take it with a 5 GB model (too big for WASM, and for any GPU buffer here).
    largestTensorBytes: random.pick([50e6, 200e6, 300e6, 2e9, 8e9]),
    promptTokens: random.int(3000),
    maxTokens: random.pick([1, 16, 256, random.int(4096)]),
    ...(random.next() < 0.4 ? { minReputation: random.pick([0.25, 0.5, 0.9, 1]) } : {}),
  };
}

/** The argmin of expectedCompletionMs over the tabs unfit() passes, ties to the higher reputation then the smaller id. */
function bruteForce(tabs: readonly TabCapabilities[], j: JobNeeds, eligible?: (t: TabCapabilities) => boolean) {
  const fit = tabs.filter((t) => unfit(t, j, eligible) === null).map((t) => ({ tab: t, etaMs: expectedCompletionMs(t, j) }));
  fit.sort((x, y) =>
    x.etaMs < y.etaMs
      ? -1
      : x.etaMs > y.etaMs
        ? 1
        : y.tab.reputation - x.tab.reputation || (x.tab.id < y.tab.id ? -1 : x.tab.id > y.tab.id ? 1 : 0),
  );
  return fit[0] ?? null;
}

const stakeOf = (seed: number) => {
  const unstaked = new Set(Array.from({ length: 10 }, (_, i) => `c${(seed * 7 + i * 3) % 50}`));
  return (t: TabCapabilities) => !unstaked.has(t.contributorId ?? '');
};

describe('chooseTab on generated fleets', () => {
  it('picks the brute-force argmin over the fit tabs, with its ETA, and null exactly when no tab fits', () => {
    let nulls = 0;
    let ties = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const random = seededRandom(seed);
      const fleet = Array.from({ length: 2000 }, (_, i) => generatedTab(random, i));
      const eligible = stakeOf(seed);
      for (let n = 0; n < 40; n++) {
        const j = generatedJob(random);
        const options = n % 2 ? { eligible } : {};
        const expected = bruteForce(fleet, j, options.eligible);
        const got = chooseTab(fleet, j, options);
        expect(got).toEqual(expected);
        if (got) {
          expect(got.tab).toBe(expected?.tab);
          expect(unfit(got.tab, j, options.eligible)).toBeNull();
          if (fleet.some((t) => t !== got.tab && unfit(t, j, options.eligible) === null && expectedCompletionMs(t, j) === got.etaMs))
            ties++;
        } else nulls++;
      }
    }
    // The fleets do exercise both the null answer and the tie rule.
    expect(nulls).toBeGreaterThan(0);
    expect(ties).toBeGreaterThan(0);
  });

  it('returns null for fleets where no tab fits, and finds the one tab that does', () => {
    const random = seededRandom(99);
    const fleet = Array.from({ length: 1000 }, (_, i) => ({ ...generatedTab(random, i), reputation: 0.5 }));
    const j = { ...generatedJob(random), model: 'a', modelBytes: 1e8, largestTensorBytes: 1e7, minReputation: 0.6 };
    expect(chooseTab(fleet, j)).toBeNull();
    const lucky = tab('lucky', { reputation: 0.7, tokensPerSecond: { a: 1 }, loaded: [], cached: [] });
    expect(chooseTab([...fleet, lucky], j)?.tab).toBe(lucky);
  });

  it('agrees with unfit: expectedCompletionMs is Infinity exactly for a tab unfit() rules out (before eligible)', () => {
    const random = seededRandom(7);
    for (let n = 0; n < 5000; n++) {
      const t = generatedTab(random, n);
      const j = generatedJob(random);
      expect(expectedCompletionMs(t, j) === Infinity).toBe(unfit(t, j) !== null);
    }
  });

  it('never lowers an ETA for hiding a tab, queueing more work on it, or it forgetting a model', () => {
    const random = seededRandom(8);
    const model = { ...DEFAULT_SCHEDULER_MODEL, maxQueuePerTab: 4 };
    for (let n = 0; n < 3000; n++) {
      const t = generatedTab(random, n);
      const j = generatedJob(random);
      const before = expectedCompletionMs(t, j, model);
      expect(expectedCompletionMs({ ...t, hidden: true }, j, model)).toBeGreaterThanOrEqual(before);
      const more: Work = {
        model: random.next() < 0.5 ? j.model : random.pick(MODELS),
        remainingTokens: random.int(500),
        modelBytes: j.modelBytes,
      };
      expect(expectedCompletionMs({ ...t, work: [...t.work, more] }, j, model)).toBeGreaterThanOrEqual(before);
      expect(expectedCompletionMs({ ...t, loaded: [], cached: [] }, j, model)).toBeGreaterThanOrEqual(before);
    }
  });
});

describe('FleetIndex', () => {
  const check = (
    index: FleetIndex<TabCapabilities>,
    fleet: readonly TabCapabilities[],
    j: JobNeeds,
    eligible?: (t: TabCapabilities) => boolean,
  ) => {
    const expected = chooseTab(fleet, j, { eligible });
    const got = index.choose(j, eligible);
    expect(got?.tab.id ?? null).toBe(expected?.tab.id ?? null);
    expect(got?.etaMs).toBe(expected?.etaMs);
    if (got) expect(got.tab).toBe(expected?.tab);
  };

  it('chooses what chooseTab chooses over the same generated fleet', () => {
    for (let seed = 1; seed <= 4; seed++) {
      const random = seededRandom(100 + seed);
      const fleet = Array.from({ length: 3000 }, (_, i) => generatedTab(random, i));
      const index = new FleetIndex<TabCapabilities>();
      for (const t of fleet) index.set(t);
      expect(index.size).toBe(fleet.length);
      const eligible = stakeOf(seed);
      for (let n = 0; n < 60; n++) check(index, fleet, generatedJob(random), n % 2 ? eligible : undefined);
    }
  });

  it('keeps agreeing as tabs take jobs, finish them, change and leave', () => {
    const random = seededRandom(200);
    const fleet = new Map<string, TabCapabilities>();
    const index = new FleetIndex<TabCapabilities>();
    const put = (t: TabCapabilities) => (fleet.set(t.id, t), index.set(t));
    for (let i = 0; i < 1500; i++) put(generatedTab(random, i));
    const eligible = stakeOf(3);
    for (let step = 0; step < 3000; step++) {
      const j = generatedJob(random);
      const chosen = chooseTab([...fleet.values()], j, { eligible });
      check(index, [...fleet.values()], j, eligible);
      // The chosen tab takes the job; then one random change somewhere.
      if (chosen)
        put({ ...chosen.tab, work: [...chosen.tab.work, { model: j.model, remainingTokens: workTokens(j), modelBytes: j.modelBytes }] });
      const ids = [...fleet.keys()];
      const t = fleet.get(random.pick(ids))!;
      const change = random.int(8);
      if (change === 0) put({ ...t, work: t.work.slice(1), loaded: t.work[0] ? [t.work[0].model] : t.loaded });
      else if (change === 1) put({ ...t, hidden: !t.hidden });
      else if (change === 2) put({ ...t, paused: !t.paused });
      else if (change === 3) put({ ...t, tokensPerSecond: { ...t.tokensPerSecond, [random.pick(MODELS)]: 1 + random.next() * 300 } });
      else if (change === 4) put({ ...t, reputation: random.next(), allowedModels: random.next() < 0.3 ? subset(random, 0.5) : null });
      else if (change === 5) put({ ...t, cached: [...t.cached, random.pick(MODELS)], maxBufferBytes: random.pick([null, 128e6, 1e9]) });
      else if (change === 6) {
        expect(index.delete(t.id)).toBe(true);
        fleet.delete(t.id);
        expect(index.delete(t.id)).toBe(false);
      } else put(generatedTab(random, 10_000 + step));
      expect(index.size).toBe(fleet.size);
    }
  });

  it('agrees for a model first seen in a job, and after every tab left', () => {
    const random = seededRandom(300);
    const fleet = Array.from({ length: 500 }, (_, i) => generatedTab(random, i));
    const index = new FleetIndex<TabCapabilities>();
    for (const t of fleet) index.set(t);
    check(index, fleet, { ...generatedJob(random), model: 'brand-new' });
    for (const t of fleet) index.delete(t.id);
    expect(index.size).toBe(0);
    expect(index.choose(generatedJob(random))).toBeNull();
    index.set(tab('back', { loaded: ['a'], cached: ['a'], tokensPerSecond: { a: 30 } }));
    expect(index.choose(job({ model: 'a' }))?.tab.id).toBe('back');
  });

  it('agrees on odd jobs: no tokens, negative or NaN sizes', () => {
    const random = seededRandom(400);
    const fleet = Array.from({ length: 800 }, (_, i) => generatedTab(random, i));
    const index = new FleetIndex<TabCapabilities>();
    for (const t of fleet) index.set(t);
    for (const odd of [
      { promptTokens: 0, maxTokens: 0 },
      { promptTokens: 0, maxTokens: -50 },
      { promptTokens: 0, maxTokens: -5000 },
      { modelBytes: -1 },
      { modelBytes: Number.NaN },
      { maxTokens: Number.NaN },
      { modelBytes: 0 },
    ]) {
      for (let n = 0; n < 10; n++) check(index, fleet, { ...generatedJob(random), ...odd });
    }
  });

  it('agrees when a negative job size turns the speed bound around (the slowest tab wins)', () => {
    // Both in the same speed bucket; y's queue puts it in a later queue class, yet its (negative) ETA is lower.
    const tabs = [tab('x'), tab('y', { tokensPerSecond: { m: 19 }, work: [{ model: 'm', remainingTokens: 6 }] })];
    const index = new FleetIndex<TabCapabilities>();
    for (const t of tabs) index.set(t);
    const negative = job({ promptTokens: 0, maxTokens: -1000 });
    expect(chooseTab(tabs, negative)?.tab.id).toBe('y');
    expect(index.choose(negative)).toEqual(chooseTab(tabs, negative));
  });

  it('uses its model', () => {
    const model = { ...DEFAULT_SCHEDULER_MODEL, hiddenSlowdown: 1, maxQueuePerTab: 3 };
    const index = new FleetIndex<TabCapabilities>(model);
    const tabs = [
      tab('hidden', { hidden: true, tokensPerSecond: { m: 30 } }),
      tab('visible'),
      tab('busy', {
        tokensPerSecond: { m: 1000 },
        work: [
          { model: 'm', remainingTokens: 1 },
          { model: 'm', remainingTokens: 1 },
        ],
      }),
    ];
    for (const t of tabs) index.set(t);
    expect(index.choose(job())).toEqual(chooseTab(tabs, job(), { model }));
    expect(index.choose(job())?.tab.id).toBe('busy');
  });
});
