/**
 * Runs batches of chat completions (issue #6): every request of a batch goes through the API's own completion path
 * (`complete`: validation, escrow, scheduling, billing, exactly as a single request), a model's requests at most as
 * many at a time as tabs serve it, batches first come first served. Results stay in the order given. A request the
 * network was too busy for (429 queue_full, 503 tabs_busy) waits its turn again, a few times, before it fails.
 *
 * In memory: a coordinator restart loses batches under way (their running jobs are billed as usual; the requests
 * not yet started cost nothing). Finished batches are kept `keepMs` for polling.
 */
import type { ErrorBody } from '../../src/protocol/api.ts';
import { BATCH_LIMITS, type BatchItemStatus, type BatchItemView, type BatchView, type CreateBatch } from '../../src/protocol/batches.ts';

/** Who runs a batch: its requests are made with the owner's key, as if the owner had sent each one. */
export interface BatchOwner {
  requesterId: string;
  authorization: string;
}

export interface CompletionAnswer {
  status: number;
  body: unknown;
  /** From a 429 or 503's Retry-After. */
  retryAfterMs?: number;
}

export interface BatchRunnerDeps {
  /** One chat completion as the owner (the API's handler): its status and JSON body. */
  complete(body: Record<string, unknown>, owner: BatchOwner, signal: AbortSignal): Promise<CompletionAnswer>;
  /** A model's load now: requests waiting for a tab, tabs serving it, a job's usual length in ms. */
  load(model: string): { waiting: number; tabs: number; jobMs: number };
  now(): number;
  newId(): string;
  /** Times a request the network was too busy for waits its turn again (default 5). */
  maxRetries?: number;
  /** Wait before such a retry when the answer gave none (default 2 s). */
  retryDelayMs?: number;
  /** How long a finished batch stays readable (default 1 h). */
  keepMs?: number;
}

interface Item {
  index: number;
  body: Record<string, unknown>;
  model: string;
  status: BatchItemStatus;
  attempts: number;
  response: BatchItemView['response'];
  error: BatchItemView['error'];
  abort: AbortController | null;
}

interface Batch {
  id: string;
  owner: BatchOwner;
  createdAt: number;
  completedAt: number | null;
  cancelled: boolean;
  metadata: Record<string, string> | null;
  items: Item[];
}

const BUSY_CODES = new Set(['queue_full', 'tabs_busy']);

export class BatchRunner {
  private readonly batches = new Map<string, Batch>();
  /** Items waiting to start, in the order they are due. */
  private readonly queue: Array<{ batch: Batch; item: Item }> = [];
  private readonly running = new Map<string, number>();

  constructor(private readonly deps: BatchRunnerDeps) {}

  /** Starts a batch; null when the owner already has as many unfinished batches as allowed. */
  create(owner: BatchOwner, request: CreateBatch): BatchView | null {
    this.forgetOld();
    const open = [...this.batches.values()].filter((b) => b.owner.requesterId === owner.requesterId && b.completedAt === null).length;
    if (open >= BATCH_LIMITS.maxOpenBatchesPerRequester) return null;
    const batch: Batch = {
      id: `batch_${this.deps.newId()}`,
      owner,
      createdAt: this.deps.now(),
      completedAt: null,
      cancelled: false,
      metadata: request.metadata ?? null,
      items: request.requests.map((body, index) => ({ index, body, model: typeof body.model === 'string' ? body.model : '', status: 'queued', attempts: 0, response: null, error: null, abort: null })),
    };
    this.batches.set(batch.id, batch);
    for (const item of batch.items) this.queue.push({ batch, item });
    this.pump();
    return this.view(batch);
  }

  /** The batch as its owner sees it; null for another requester's or an unknown one. */
  get(requesterId: string, id: string): BatchView | null {
    this.forgetOld();
    const batch = this.batches.get(id);
    return batch && batch.owner.requesterId === requesterId ? this.view(batch) : null;
  }

  /** Cancels what has not finished: queued requests never start, running ones are stopped (and billed as a hang-up). */
  cancel(requesterId: string, id: string): BatchView | null {
    const batch = this.batches.get(id);
    if (!batch || batch.owner.requesterId !== requesterId) return null;
    batch.cancelled = true;
    for (const item of batch.items) {
      if (item.status === 'queued') item.status = 'cancelled';
      item.abort?.abort();
    }
    this.removeQueued(batch);
    this.settle(batch);
    return this.view(batch);
  }

  /** Starts every queued item whose model has a free place, in queue order. */
  private pump(): void {
    for (const entry of [...this.queue]) {
      const { batch, item } = entry;
      // run() may end an item at once and pump again: what that inner pass started is no longer queued.
      const at = this.queue.indexOf(entry);
      if (at < 0 || (this.running.get(item.model) ?? 0) >= Math.max(1, this.deps.load(item.model).tabs)) continue;
      this.queue.splice(at, 1);
      void this.run(batch, item);
    }
  }

  private async run(batch: Batch, item: Item): Promise<void> {
    if (item.body.stream === true) return this.end(batch, item, 'failed', null, { message: 'Batch requests are not streamed; leave stream out.', type: 'invalid_request_error', param: 'stream', code: 'invalid_value' });
    item.status = 'running';
    item.attempts++;
    item.abort = new AbortController();
    this.running.set(item.model, (this.running.get(item.model) ?? 0) + 1);
    let answer: CompletionAnswer;
    try {
      answer = await this.deps.complete(item.body, batch.owner, item.abort.signal);
    } catch (error) {
      answer = { status: 500, body: { error: { message: `The request could not be run: ${error instanceof Error ? error.message : String(error)}`, type: 'server_error', param: null, code: 'internal_error' } } };
    }
    this.running.set(item.model, (this.running.get(item.model) ?? 1) - 1);
    item.abort = null;
    if (batch.cancelled) return this.end(batch, item, 'cancelled', null, null);
    const error = (answer.body as Partial<ErrorBody> | null)?.error ?? null;
    if (answer.status === 200) return this.end(batch, item, 'completed', answer.body as BatchItemView['response'], null);
    if (error && BUSY_CODES.has(error.code ?? '') && item.attempts <= (this.deps.maxRetries ?? 5)) {
      item.status = 'queued';
      const timer = setTimeout(() => {
        if (batch.cancelled) return;
        this.queue.unshift({ batch, item });
        this.pump();
      }, answer.retryAfterMs ?? this.deps.retryDelayMs ?? 2000);
      timer.unref?.();
      return this.pump();
    }
    this.end(batch, item, 'failed', null, error ?? { message: `The request ended with HTTP ${answer.status}.`, type: 'server_error', param: null, code: null });
  }

  private end(batch: Batch, item: Item, status: BatchItemStatus, response: BatchItemView['response'], error: BatchItemView['error']): void {
    Object.assign(item, { status, response, error });
    this.settle(batch);
    this.pump();
  }

  /** Marks the batch finished once no item is queued or running. */
  private settle(batch: Batch): void {
    if (batch.completedAt === null && batch.items.every((i) => i.status !== 'queued' && i.status !== 'running')) batch.completedAt = this.deps.now();
  }

  private removeQueued(batch: Batch): void {
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]?.batch === batch) this.queue.splice(i, 1);
  }

  private forgetOld(): void {
    const before = this.deps.now() - (this.deps.keepMs ?? 3_600_000);
    for (const [id, batch] of this.batches) if (batch.completedAt !== null && batch.completedAt < before) this.batches.delete(id);
  }

  private view(batch: Batch): BatchView {
    const count = (status: BatchItemStatus) => batch.items.filter((i) => i.status === status).length;
    const seconds = (ms: number) => Math.floor(ms / 1000);
    const status = batch.cancelled ? 'cancelled' : batch.completedAt === null ? 'in_progress' : 'completed';
    return {
      id: batch.id,
      object: 'batch',
      status,
      created_at: seconds(batch.createdAt),
      completed_at: batch.completedAt === null ? null : seconds(batch.completedAt),
      request_counts: { total: batch.items.length, completed: count('completed'), failed: count('failed') },
      metadata: batch.metadata,
      results: batch.items.map((item) => ({ index: item.index, status: item.status, ...this.place(item), response: item.response, error: item.error })),
    };
  }

  /**
   * A queued item's place: the requests of its model ahead of it (on the board, then in this queue) and when it
   * should start, with the model's tabs each taking one at a time at the usual job length (null without a tab).
   */
  private place(item: Item): Pick<BatchItemView, 'queue_position' | 'estimated_start_at'> {
    if (item.status !== 'queued') return { queue_position: null, estimated_start_at: null };
    const load = this.deps.load(item.model);
    const at = this.queue.findIndex((entry) => entry.item === item);
    const ahead = load.waiting + (at < 0 ? 0 : this.queue.slice(0, at).filter((entry) => entry.item.model === item.model).length);
    const busy = (this.running.get(item.model) ?? 0) >= Math.max(1, load.tabs);
    const rounds = Math.floor(ahead / Math.max(1, load.tabs)) + (busy ? 1 : 0);
    return { queue_position: ahead, estimated_start_at: load.tabs === 0 ? null : Math.floor((this.deps.now() + rounds * load.jobMs) / 1000) };
  }
}
