/**
 * Matches a job to a contributor tab (issue #6). No clock, no I/O: plain snapshots in, a choice out. chooseTab scans
 * the snapshots (the definition); FleetIndex (fleet-index.ts) gives the same choice from rows it keeps, fast enough
 * for a large fleet. speedOf, loadMs, queueMs, etaMs and fits are exported for FleetIndex, which must compute
 * exactly what they do.
 *
 * The choice is the fit tab with the lowest expected completion time (ETA), ties going to the higher reputation,
 * then the smaller id (so the same fleet always gives the same answer). A tab is fit when it reported a backend, is
 * not paused, its contributor allows the model, the model fits its memory, its reputation reaches the job's minimum,
 * its queue has room, and the caller's `eligible` (stake) agrees.
 *
 * The ETA, in ms from now, with s(m) the tab's decode tokens/s for model m (measured, else a conservative guess):
 *   queue   Σ over the tab's jobs: remainingTokens / s(model), plus loading the job's model when the engine will not
 *           hold it at its turn (the running job: its model not yet in `loaded`; a waiting one: the job before it ran
 *           another model), when the entry gives the model's size (without one, the switch counts 0)
 *   switch  0 when the engine will hold the job's model when its turn comes (the last queued job's model; with an
 *           empty queue, any model in `loaded`); else loading it from the Cache API, or downloading and loading it
 *   job     workTokens(job) / s(job.model): the prompt at prefillSpeedup × the decode speed, then the expected output
 * A hidden tab computes hiddenSlowdown × slower (tokens and loading into the engine); its downloads are not slowed.
 * One engine serves one job at a time, so the terms add up.
 */

/** What the scheduler knows of one tab: a snapshot the coordinator keeps current. */
export interface TabCapabilities {
  id: string;
  contributorId: string | null;
  /** Null until the tab reported one; such a tab takes no job. */
  backend: 'webgpu' | 'wasm' | null;
  /**
   * The adapter's largest GPU buffer (bytes), the memory proxy for WebGPU: the largest weight tensor must fit one
   * buffer. Null: not reported; WebGPU then gets the limit every adapter guarantees. Not used for WASM, whose whole
   * model must fit the WASM memory (SchedulerModel.wasmMemoryBytes).
   */
  maxBufferBytes: number | null;
  /** Models in the engine now (one engine: usually one). A loaded model is also taken to be cached. */
  loaded: readonly string[];
  /** Models whose files are in the tab's Cache API. */
  cached: readonly string[];
  /** Measured decode tokens/s per model (calibration or served jobs); missing, zero or not finite: not measured. */
  tokensPerSecond: Readonly<Record<string, number>>;
  /**
   * The jobs assigned to the tab: the running one first, then those waiting behind it. `remainingTokens` is in
   * decode-token equivalents: workTokens(job) for a waiting job, less what a running one has streamed. `modelBytes`,
   * when given, lets the job's model load count (give it: without it, a queued switch is free).
   */
  work: ReadonlyArray<{ model: string; remainingTokens: number; modelBytes?: number }>;
  /** Browsers throttle hidden tabs' timers. */
  hidden: boolean;
  /** The contributor paused the tab. */
  paused: boolean;
  /** Models the contributor allows (null: all). */
  allowedModels: readonly string[] | null;
  /** The identity's reputation in [0, 1]. */
  reputation: number;
}

export interface JobNeeds {
  model: string;
  /** All the model's files: what a download fetches and a load reads. */
  modelBytes: number;
  /** The largest single weight tensor: it must fit one GPU buffer. */
  largestTensorBytes: number;
  promptTokens: number;
  maxTokens: number;
  /** Tabs with a lower reputation may not take the job (absent: any). */
  minReputation?: number;
}

/** The ETA model's constants. */
export interface SchedulerModel {
  /** Decode tokens/s assumed for a model the tab has not measured. */
  unmeasuredTokensPerSecond: number;
  /** Prompt tokens are processed this many times faster than tokens are generated (batched prefill). */
  prefillSpeedup: number;
  /** A hidden tab computes this many times slower. */
  hiddenSlowdown: number;
  /** Loading a model from the tab's Cache API into the engine, bytes/s. */
  cachedLoadBytesPerSecond: number;
  /** Downloading a model the tab has not cached, bytes/s (it is then loaded as well). */
  downloadBytesPerSecond: number;
  /** A tab's jobs, the running one included, at most this many. */
  maxQueuePerTab: number;
  /** The share of max_tokens a job is expected to generate. */
  expectedTokensFraction: number;
  /** The most a WASM engine can hold: the model must fit in it. */
  wasmMemoryBytes: number;
}

/** The maxBufferSize every WebGPU adapter supports (the spec's default limit, 256 MiB). */
export const WEBGPU_DEFAULT_MAX_BUFFER_BYTES = 268_435_456;

/**
 * unmeasuredTokensPerSecond 5: a slow WASM decode of a small model; an unmeasured tab is taken to be slow, so a tab
 *   that measured a decent speed wins over it, and a new tab is tried when the measured ones are busy.
 * prefillSpeedup 8: prompt tokens go through the model in one batched pass; on the engines here that is several to
 *   tens of times the decode rate, 8 keeps long prompts from being underestimated.
 * hiddenSlowdown 4: a hidden tab's timers are throttled (to 1/s after minutes in Chromium); the engine in a worker
 *   suffers less than that, but a hidden tab should lose to a visible one of equal speed by a clear margin.
 * cachedLoadBytesPerSecond 200 MB/s: reading the Cache API and creating the session (WebGPU: uploading weights).
 * downloadBytesPerSecond 10 MB/s: a home connection (80 Mbit/s) fetching from the model host.
 * maxQueuePerTab 2: the running job and one waiting, so the next job starts without a round trip, while jobs are
 *   not piled on a tab that may leave.
 * expectedTokensFraction 1: max_tokens is the upper bound, the same bound the job's escrow uses; the ETA then never
 *   promises too early. Lower it once served jobs show how much of max_tokens they use.
 * wasmMemoryBytes 4 GiB: a wasm32 memory's whole address space.
 */
export const DEFAULT_SCHEDULER_MODEL: Readonly<SchedulerModel> = Object.freeze({
  unmeasuredTokensPerSecond: 5,
  prefillSpeedup: 8,
  hiddenSlowdown: 4,
  cachedLoadBytesPerSecond: 200e6,
  downloadBytesPerSecond: 10e6,
  maxQueuePerTab: 2,
  expectedTokensFraction: 1,
  wasmMemoryBytes: 4 * 2 ** 30,
});

/** The job's size in decode-token equivalents: its prompt at the prefill speed-up, then its expected output. */
export function workTokens(job: Pick<JobNeeds, 'promptTokens' | 'maxTokens'>, model: SchedulerModel = DEFAULT_SCHEDULER_MODEL): number {
  return job.promptTokens / model.prefillSpeedup + job.maxTokens * model.expectedTokensFraction;
}

/** The tab's decode tokens/s for `model`: measured when positive and finite, else the unmeasured guess. */
export function speedOf(tab: TabCapabilities, model: string, m: SchedulerModel): number {
  const s = tab.tokensPerSecond[model];
  // typeof: a model named like an Object.prototype member must not read that member.
  return typeof s === 'number' && s > 0 && s < Infinity ? s : m.unmeasuredTokensPerSecond;
}

/** Loading `model` (`bytes`) into the tab's engine, downloading it first when the tab has not cached it. */
export function loadMs(tab: TabCapabilities, model: string, bytes: number, slow: number, m: SchedulerModel): number {
  if (!(bytes > 0)) return 0;
  const load = ((bytes * 1000) / m.cachedLoadBytesPerSecond) * slow;
  return tab.cached.includes(model) || tab.loaded.includes(model) ? load : load + (bytes * 1000) / m.downloadBytesPerSecond;
}

/** The time to finish the tab's jobs (the header's queue term); a non-positive or NaN size counts 0. */
export function queueMs(tab: TabCapabilities, slow: number, m: SchedulerModel): number {
  const work = tab.work;
  let ms = 0;
  for (let i = 0; i < work.length; i++) {
    const w = work[i]!;
    const resident = i === 0 ? tab.loaded.includes(w.model) : w.model === work[i - 1]!.model;
    if (!resident && w.modelBytes !== undefined) ms += loadMs(tab, w.model, w.modelBytes, slow, m);
    if (w.remainingTokens > 0) ms += (w.remainingTokens * 1000 * slow) / speedOf(tab, w.model, m);
  }
  return ms;
}

/**
 * The ETA of a fit tab, from its queue's time and the job's own compute (jobMs). queue + switch ≥ 0, so the ETA is
 * never below jobMs, in floating point too (rounding is monotonic): chooseTab prunes with that. NaN (a job's size
 * not a number) counts as Infinity, so every ETA is ordered.
 */
export function etaMs(tab: TabCapabilities, job: JobNeeds, queue: number, own: number, slow: number, m: SchedulerModel): number {
  const work = tab.work;
  const resident = work.length === 0 ? tab.loaded.includes(job.model) : work[work.length - 1]!.model === job.model;
  const eta = queue + (resident ? 0 : loadMs(tab, job.model, job.modelBytes, slow, m)) + own;
  return eta === eta ? eta : Infinity;
}

function jobMs(tab: TabCapabilities, job: JobNeeds, tokens: number, slow: number, m: SchedulerModel): number {
  return (tokens * 1000 * slow) / speedOf(tab, job.model, m);
}

/** Whether the tab can hold the job's model: unfit()'s memory test. */
export function memoryFits(tab: Pick<TabCapabilities, 'backend' | 'maxBufferBytes'>, job: JobNeeds, m: SchedulerModel): boolean {
  if (tab.backend === 'webgpu') return job.largestTensorBytes <= (tab.maxBufferBytes ?? WEBGPU_DEFAULT_MAX_BUFFER_BYTES);
  return tab.backend === 'wasm' && job.modelBytes <= m.wasmMemoryBytes;
}

/** unfit() without its reasons or `eligible`: chooseTab's loop must not build strings. Keep the two in step. */
export function fits(tab: TabCapabilities, job: JobNeeds, m: SchedulerModel): boolean {
  return (
    !tab.paused &&
    tab.work.length < m.maxQueuePerTab &&
    tab.reputation >= (job.minReputation ?? 0) &&
    (tab.allowedModels === null || tab.allowedModels.includes(job.model)) &&
    memoryFits(tab, job, m)
  );
}

/** Why the tab cannot take the job, or null when it can. `eligible` is the caller's test (stake), asked last. */
export function unfit<T extends TabCapabilities>(
  tab: T,
  job: JobNeeds,
  eligible?: (tab: T) => boolean,
  model: SchedulerModel = DEFAULT_SCHEDULER_MODEL,
): string | null {
  if (tab.backend === null) return 'no backend reported';
  if (tab.paused) return 'paused';
  if (tab.allowedModels !== null && !tab.allowedModels.includes(job.model)) return `model ${job.model} not allowed by the contributor`;
  if (tab.backend === 'webgpu') {
    const limit = tab.maxBufferBytes ?? WEBGPU_DEFAULT_MAX_BUFFER_BYTES;
    if (!(job.largestTensorBytes <= limit))
      return `not enough memory: a ${job.largestTensorBytes}-byte tensor exceeds the largest GPU buffer (${limit} bytes)`;
  } else if (!(job.modelBytes <= model.wasmMemoryBytes))
    return `not enough memory: a ${job.modelBytes}-byte model exceeds the WASM memory (${model.wasmMemoryBytes} bytes)`;
  // Written so that a reputation that is not a number meets no minimum, not even 0.
  if (!(tab.reputation >= (job.minReputation ?? 0)))
    return `reputation ${tab.reputation} below the job's minimum ${job.minReputation ?? 0}`;
  if (tab.work.length >= model.maxQueuePerTab) return `queue full (${tab.work.length} of ${model.maxQueuePerTab})`;
  if (eligible && !eligible(tab)) return 'not eligible (stake)';
  return null;
}

/** Expected ms until the job would finish on this tab (see the header); Infinity when the tab cannot take it. */
export function expectedCompletionMs(tab: TabCapabilities, job: JobNeeds, model: SchedulerModel = DEFAULT_SCHEDULER_MODEL): number {
  if (!fits(tab, job, model)) return Infinity;
  const slow = tab.hidden ? model.hiddenSlowdown : 1;
  return etaMs(tab, job, queueMs(tab, slow, model), jobMs(tab, job, workTokens(job, model), slow, model), slow, model);
}

/**
 * The fit tab with the lowest ETA (ties: the higher reputation, then the smaller id), with that ETA; null when no
 * tab fits. O(tabs) and allocation-free until it returns: a tab whose own compute alone exceeds the best ETA so far
 * is passed over before its queue is walked, and `eligible` is asked only of a tab that would become the best.
 */
export function chooseTab<T extends TabCapabilities>(
  tabs: readonly T[],
  job: JobNeeds,
  options: { eligible?: (tab: T) => boolean; model?: SchedulerModel } = {},
): { tab: T; etaMs: number } | null {
  const m = options.model ?? DEFAULT_SCHEDULER_MODEL;
  const eligible = options.eligible;
  const tokens = workTokens(job, m);
  let best: T | null = null;
  let bestEta = Infinity;
  for (let i = 0; i < tabs.length; i++) {
    const tab = tabs[i]!;
    if (!fits(tab, job, m)) continue;
    const slow = tab.hidden ? m.hiddenSlowdown : 1;
    const own = jobMs(tab, job, tokens, slow, m);
    if (own > bestEta) continue;
    const eta = etaMs(tab, job, queueMs(tab, slow, m), own, slow, m);
    if (
      best !== null &&
      !(
        eta < bestEta ||
        (eta === bestEta && (tab.reputation > best.reputation || (tab.reputation === best.reputation && tab.id < best.id)))
      )
    )
      continue;
    if (eligible && !eligible(tab)) continue;
    best = tab;
    bestEta = eta;
  }
  return best === null ? null : { tab: best, etaMs: bestEta };
}
