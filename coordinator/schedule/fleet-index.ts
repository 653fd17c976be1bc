/**
 * FleetIndex: chooseTab's choice (scheduler.ts) from rows of numbers it keeps current, fast enough for a fleet of
 * thousands of tabs (issue #6). Pure: no clock, no I/O.
 */
import { speedOf, loadMs, queueMs, etaMs, fits, workTokens, DEFAULT_SCHEDULER_MODEL, WEBGPU_DEFAULT_MAX_BUFFER_BYTES, chooseTab, type TabCapabilities, type JobNeeds, type SchedulerModel } from './scheduler.ts';

/** A model's flags in a FleetIndex row. */
const LOCAL = 1; // cached or loaded: no download
const LOADED = 2;
const ALLOWED = 4;

/**
 * FleetIndex's cells. For each model, a tab that may take its jobs sits in one cell, by three lower bounds of its ETA:
 *   speed      its key slow / speed (ms per token / 1000): bucket b from SPEED_EDGES[b], 2^(1/4) apart from 1e-5
 *              (100,000 tokens/s) to about 1e4 (a token in three hours), the last bucket taking the rest
 *   residency  0: the model will be in the engine when the job's turn comes; 1: to load from the cache; 2: to download
 *   queue      its queue's ms: class q from QUEUE_EDGES[q], 0 (an empty queue) then 250 ms doubling, the last taking the rest
 */
const SPEED_BUCKETS = 122;
const SPEED_EDGES = Float64Array.from({ length: SPEED_BUCKETS }, (_, b) => (b === 0 ? 0 : 1e-5 * 2 ** ((b - 1) / 4)));
const RESIDENCIES = 3;
const QUEUE_CLASSES = 24; // at most 32: a (speed, residency) pair's non-empty queue classes are a bit mask
const QUEUE_EDGES = Float64Array.from({ length: QUEUE_CLASSES }, (_, q) => (q === 0 ? 0 : 250 * 2 ** (q - 1)));

/** The last class whose edge is at or below `x` (edges rise from 0); NaN goes last. */
function classOf(x: number, edges: Float64Array): number {
  let lo = 0;
  let hi = edges.length - 1;
  if (x !== x) return hi;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (edges[mid]! <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

interface ModelSlot {
  /** speedOf(tab, model) per row. */
  speed: Float64Array;
  flags: Uint8Array;
  /** Each row's cell, -1 when it cannot take the model's jobs (closed, or the model not allowed), and its place there. */
  cell: Int32Array;
  at: Int32Array;
  /** The rows of each cell, (speed × RESIDENCIES + residency) × QUEUE_CLASSES + queue; made when first needed. */
  cells: Array<number[] | undefined>;
  /** Per speed × RESIDENCIES + residency: bit q set when that queue class's cell holds rows. */
  masks: Uint32Array;
}

/**
 * chooseTab's answer, fast enough for a large fleet. The tabs are kept as rows of numbers (what fits() and the ETA
 * read of them, the queue's time already summed), and per model in cells by lower bounds of their ETA (speed,
 * residency, queue time). A choice visits the cells fastest first and passes over every cell whose bound exceeds the
 * best ETA found, so it reads the few tabs that could win (all at worst, as when nearly no tab fits); a tab that
 * cannot take the model's jobs at all (paused, queue full, no backend, model not allowed) is in no cell.
 *
 * Its choice is the one chooseTab gives over the same tabs, to the last bit of the ETA, provided the index is told
 * of every change: call set(tab) after anything about a tab changed (a job assigned, progressing or finished, a
 * measurement, a model loaded or cached, visibility, pause, limits, reputation) and delete(id) when it leaves. Both
 * are O(models seen). No I/O. Models are numbered as first seen (in a job or a tab's queue) and kept: pass catalog
 * models only. The constants must be positive (the bounds rely on it).
 */
export class FleetIndex<T extends TabCapabilities> {
  private readonly rows = new Map<string, number>();
  private readonly tabs: T[] = [];
  private readonly modelIds = new Map<string, number>();
  private readonly models: ModelSlot[] = [];
  private capacity = 0;
  /** 1: reported a backend, not paused, queue not full. */
  private open = new Uint8Array(0);
  private wasm = new Uint8Array(0);
  /** WebGPU: the largest buffer (bytes). */
  private memory = new Float64Array(0);
  private reputation = new Float64Array(0);
  private slow = new Float64Array(0);
  private queue = new Float64Array(0);
  /** The model id of the last job in the queue, -1 when the queue is empty. */
  private last = new Int32Array(0);

  constructor(private readonly model: SchedulerModel = DEFAULT_SCHEDULER_MODEL) {}

  get size(): number {
    return this.tabs.length;
  }

  /** Adds the tab, or refreshes its row (the same id) after it changed. */
  set(tab: T): void {
    let row = this.rows.get(tab.id);
    if (row === undefined) {
      row = this.tabs.length;
      if (row === this.capacity) this.grow(Math.max(64, row * 2));
      this.rows.set(tab.id, row);
      this.tabs.push(tab);
    } else this.tabs[row] = tab;
    this.fill(row, tab);
  }

  delete(id: string): boolean {
    const row = this.rows.get(id);
    if (row === undefined) return false;
    this.rows.delete(id);
    for (const slot of this.models) unplace(slot, row);
    const moved = this.tabs.pop()!;
    const from = this.tabs.length;
    if (row === from) return true;
    // The last row moves into the hole, so rows stay dense.
    this.tabs[row] = moved;
    this.rows.set(moved.id, row);
    for (const a of [this.open, this.wasm, this.memory, this.reputation, this.slow, this.queue, this.last]) a[row] = a[from]!;
    for (const slot of this.models) {
      slot.speed[row] = slot.speed[from]!;
      slot.flags[row] = slot.flags[from]!;
      const c = slot.cell[from]!;
      const at = slot.at[from]!;
      if (c !== -1) slot.cells[c]![at] = row;
      slot.cell[row] = c;
      slot.at[row] = at;
      slot.cell[from] = -1;
    }
    return true;
  }

  /** chooseTab(the tabs set, job, { eligible, model }). */
  choose(job: JobNeeds, eligible?: (tab: T) => boolean): { tab: T; etaMs: number } | null {
    const m = this.model;
    const k = this.modelId(job.model);
    const { speed, flags, cells, masks } = this.models[k]!;
    const { wasm, memory, reputation, slow, queue, last, tabs } = this;
    const minReputation = job.minReputation ?? 0;
    const largest = job.largestTensorBytes;
    const wasmFits = job.modelBytes <= m.wasmMemoryBytes;
    const tokens1000 = workTokens(job, m) * 1000;
    // loadMs's terms, in its order of operations, so the ETAs are chooseTab's to the last bit.
    const loads = job.modelBytes > 0;
    const load1000 = (job.modelBytes * 1000) / m.cachedLoadBytesPerSecond;
    const download = (job.modelBytes * 1000) / m.downloadBytesPerSecond;
    // Lower bounds of each term, for passing over cells: the least a residency class's switch takes (a visible tab's
    // load); the job's compute at a bucket's edge speed, unless the job's size is negative or NaN (then the bound
    // does not hold and every speed bucket is read); a margin for rounding.
    const loadLow = loads ? load1000 * Math.min(1, m.hiddenSlowdown) : 0;
    const downloadLow = loads ? loadLow + download : 0;
    const boundedBySpeed = tokens1000 >= 0;
    const margin = 1 - 1e-9;
    let best = -1;
    let bestEta = Infinity;
    for (let b = 0; b < SPEED_BUCKETS; b++) {
      const speedLow = boundedBySpeed ? tokens1000 * SPEED_EDGES[b]! : -Infinity;
      if (speedLow * margin > bestEta) break;
      for (let r = 0; r < RESIDENCIES; r++) {
        let mask = masks[b * RESIDENCIES + r]!;
        const low = speedLow + (r === 0 ? 0 : r === 1 ? loadLow : downloadLow);
        const base = (b * RESIDENCIES + r) * QUEUE_CLASSES;
        while (mask !== 0) {
          const q = 31 - Math.clz32(mask & -mask);
          mask &= mask - 1;
          // Queue classes come in rising order: past this bound, so are the rest.
          if ((low + QUEUE_EDGES[q]!) * margin > bestEta) break;
          const rows = cells[base + q]!;
          for (let j = 0; j < rows.length; j++) {
            const i = rows[j]!;
            const f = flags[i]!;
            // Open and allowed, or it would be in no cell: what is left of fits() depends on the job.
            if (!(reputation[i]! >= minReputation) || (wasm[i] === 1 ? !wasmFits : !(largest <= memory[i]!))) continue;
            const s = slow[i]!;
            const own = (tokens1000 * s) / speed[i]!;
            if (own > bestEta) continue;
            const l = last[i]!;
            const resident = l === -1 ? (f & LOADED) !== 0 : l === k;
            const switchMs = resident || !loads ? 0 : (f & LOCAL) !== 0 ? load1000 * s : load1000 * s + download;
            let eta = queue[i]! + switchMs + own;
            if (eta !== eta) eta = Infinity;
            if (
              best !== -1 &&
              !(
                eta < bestEta ||
                (eta === bestEta &&
                  (reputation[i]! > reputation[best]! || (reputation[i] === reputation[best] && tabs[i]!.id < tabs[best]!.id)))
              )
            )
              continue;
            if (eligible && !eligible(tabs[i]!)) continue;
            best = i;
            bestEta = eta;
          }
        }
      }
    }
    return best === -1 ? null : { tab: tabs[best]!, etaMs: bestEta };
  }

  private fill(row: number, tab: T): void {
    const m = this.model;
    const slow = tab.hidden ? m.hiddenSlowdown : 1;
    const work = tab.work;
    this.open[row] = tab.backend !== null && !tab.paused && work.length < m.maxQueuePerTab ? 1 : 0;
    this.wasm[row] = tab.backend === 'wasm' ? 1 : 0;
    this.memory[row] = tab.maxBufferBytes ?? WEBGPU_DEFAULT_MAX_BUFFER_BYTES;
    this.reputation[row] = tab.reputation;
    this.slow[row] = slow;
    this.queue[row] = queueMs(tab, slow, m);
    // (A model first seen here fills every row, this one with a stale `last`: the loop below fills it again.)
    this.last[row] = work.length === 0 ? -1 : this.modelId(work[work.length - 1]!.model);
    for (const [name, k] of this.modelIds) this.fillModel(this.models[k]!, k, name, row, tab);
  }

  private fillModel(slot: ModelSlot, k: number, name: string, row: number, tab: T): void {
    const loaded = tab.loaded.includes(name);
    const speed = speedOf(tab, name, this.model);
    const flags =
      (loaded || tab.cached.includes(name) ? LOCAL : 0) |
      (loaded ? LOADED : 0) |
      (tab.allowedModels === null || tab.allowedModels.includes(name) ? ALLOWED : 0);
    slot.speed[row] = speed;
    slot.flags[row] = flags;
    let cell = -1;
    if (this.open[row] === 1 && (flags & ALLOWED) !== 0) {
      const l = this.last[row]!;
      const residency = (l === -1 ? loaded : l === k) ? 0 : (flags & LOCAL) !== 0 ? 1 : 2;
      cell =
        (classOf(this.slow[row]! / speed, SPEED_EDGES) * RESIDENCIES + residency) * QUEUE_CLASSES + classOf(this.queue[row]!, QUEUE_EDGES);
    }
    if (slot.cell[row] === cell) return;
    unplace(slot, row);
    if (cell === -1) return;
    const rows = (slot.cells[cell] ??= []);
    slot.cell[row] = cell;
    slot.at[row] = rows.length;
    rows.push(row);
    slot.masks[(cell / QUEUE_CLASSES) | 0]! |= 1 << (cell % QUEUE_CLASSES);
  }

  private modelId(name: string): number {
    let k = this.modelIds.get(name);
    if (k !== undefined) return k;
    k = this.models.length;
    const slot: ModelSlot = {
      speed: new Float64Array(this.capacity),
      flags: new Uint8Array(this.capacity),
      cell: new Int32Array(this.capacity).fill(-1),
      at: new Int32Array(this.capacity),
      cells: new Array<number[] | undefined>(SPEED_BUCKETS * RESIDENCIES * QUEUE_CLASSES).fill(undefined),
      masks: new Uint32Array(SPEED_BUCKETS * RESIDENCIES),
    };
    this.models.push(slot);
    this.modelIds.set(name, k);
    for (let row = 0; row < this.tabs.length; row++) this.fillModel(slot, k, name, row, this.tabs[row]!);
    return k;
  }

  private grow(capacity: number): void {
    const copy = <A extends Float64Array | Uint8Array | Int32Array>(a: A, make: (n: number) => A): A => {
      const b = make(capacity);
      b.set(a);
      return b;
    };
    const f64 = (n: number) => new Float64Array(n);
    const u8 = (n: number) => new Uint8Array(n);
    const i32 = (n: number) => new Int32Array(n);
    this.open = copy(this.open, u8);
    this.wasm = copy(this.wasm, u8);
    this.memory = copy(this.memory, f64);
    this.reputation = copy(this.reputation, f64);
    this.slow = copy(this.slow, f64);
    this.queue = copy(this.queue, f64);
    this.last = copy(this.last, i32);
    for (const slot of this.models) {
      slot.speed = copy(slot.speed, f64);
      slot.flags = copy(slot.flags, u8);
      slot.cell = copy(slot.cell, (n) => new Int32Array(n).fill(-1));
      slot.at = copy(slot.at, i32);
    }
    this.capacity = capacity;
  }
}

/** Takes the row out of its cell, if in one (the cell's last row takes its place). */
function unplace(slot: ModelSlot, row: number): void {
  const cell = slot.cell[row]!;
  if (cell === -1) return;
  const rows = slot.cells[cell]!;
  const at = slot.at[row]!;
  const tail = rows.pop()!;
  if (tail !== row) {
    rows[at] = tail;
    slot.at[tail] = at;
  }
  if (rows.length === 0) slot.masks[(cell / QUEUE_CLASSES) | 0]! &= ~(1 << (cell % QUEUE_CLASSES));
  slot.cell[row] = -1;
}
