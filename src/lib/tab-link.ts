/**
 * The tab's side of the coordinator link (a WebSocket to /tabs): announces the tab, receives tasks, runs them on
 * the inference worker and streams tokens back. Messages from the coordinator are validated; invalid ones are
 * logged and dropped. Reconnects with backoff until stopped.
 */
import { parseCoordinatorMessage, TAB_PROTOCOL_VERSION, type Backend, type TabToCoordinator, type TaskMessage } from '../protocol/tab.ts';
import { TASK_FAILURE_CODES, type DeviceReport, type WorkerToken } from '../protocol/worker.ts';
import { proxy, type InferenceWorker } from './inference-worker.ts';
import type { ContributorIdentity } from './identity.ts';

/** Times are `performance.now()` of the page. */
export interface JobActivity {
  jobId: string;
  tokens: number;
  /** When the task arrived from the coordinator. */
  startedAt: number;
  firstTokenAt: number | null;
  lastTokenAt: number | null;
}

export interface TabLinkEvents {
  onStatus(status: 'connecting' | 'connected' | 'disconnected', tabId: string | null): void;
  /** Progress of the current job; null when it ended (`finished` set when it completed). Called once per token. */
  onJob(activity: JobActivity | null, finished?: { activity: JobActivity; tokensPerSecond: number | null }): void;
  onLog(message: string): void;
}

export interface TabLinkOptions {
  url: string;
  worker: InferenceWorker;
  backend: Backend;
  device: DeviceReport;
  models: string[];
  identity: ContributorIdentity;
  events: TabLinkEvents;
}

export class TabLink {
  private socket: WebSocket | null = null;
  private stopped = false;
  private retryMs = 500;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** Jobs handed to the worker and not yet ended. */
  private readonly running = new Set<string>();
  private tabId: string | null = null;

  constructor(private readonly options: TabLinkOptions) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Disconnects and stops the jobs in flight. */
  stop(): void {
    this.stopped = true;
    this.cancelRunning();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.socket?.close(1000, 'contributor stopped');
    this.socket = null;
  }

  /** The coordinator fails a session's jobs when its link drops; the worker must stop them too. */
  private cancelRunning(): void {
    for (const jobId of this.running) void this.options.worker.cancel(jobId);
  }

  private send(message: TabToCoordinator): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private connect(): void {
    const { events, backend, device, models } = this.options;
    events.onStatus('connecting', null);
    const socket = new WebSocket(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      this.retryMs = 500;
    };
    socket.onmessage = (event) => {
      const parsed = parseCoordinatorMessage(event.data);
      if (!parsed.ok) return events.onLog(`dropped a message from the coordinator: ${parsed.error}`);
      const message = parsed.message;
      switch (message.type) {
        case 'welcome':
          this.tabId = message.tabId;
          // The coordinator gives a session work only after its hello proved the identity (`accepted`).
          return void this.options.identity.prove(message.challenge).then((identity) =>
            this.send({ type: 'hello', protocol: TAB_PROTOCOL_VERSION, backend, adapter: backend === 'webgpu' ? device.adapter : null, limits: backend === 'webgpu' ? device.limits : null, models, identity }),
            (error: unknown) => events.onLog(`could not sign the session challenge: ${String(error)}`),
          );
        case 'accepted':
          return events.onStatus('connected', this.tabId);
        case 'task':
          return void this.runTask(message);
        case 'cancel':
          return void this.options.worker.cancel(message.jobId);
        case 'error':
          return events.onLog(`coordinator: ${message.code}: ${message.message}`);
      }
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.cancelRunning();
      events.onStatus('disconnected', null);
      if (this.stopped) return;
      this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    };
  }

  private async runTask(task: TaskMessage): Promise<void> {
    const { worker, events } = this.options;
    const activity: JobActivity = { jobId: task.jobId, tokens: 0, startedAt: performance.now(), firstTokenAt: null, lastTokenAt: null };
    let ended = false;
    let allDelivered = () => {};
    let expectedTokens = Infinity;
    const transcriptTokens: Array<{ id: number; logprob: number }> = [];
    const delivered = new Promise<void>((resolve) => (allDelivered = resolve));
    events.onJob({ ...activity });
    this.running.add(task.jobId);
    try {
      const result = await worker.run(
        task.jobId,
        { model: task.model, messages: task.messages, params: task.params },
        proxy((batch: WorkerToken[]) => {
          if (ended) return; // stragglers after the job failed or was cancelled
          const now = performance.now();
          activity.tokens += batch.length;
          for (const t of batch) transcriptTokens.push({ id: t.id, logprob: t.logprob });
          activity.firstTokenAt ??= now;
          activity.lastTokenAt = now;
          this.send({
            type: 'tokens',
            jobId: task.jobId,
            tokens: batch.map((t) => ({
              index: t.index,
              token: { id: t.id, token: t.text, bytes: t.bytes, logprob: t.logprob },
              text: t.delta,
              top: t.top.map((c) => ({ id: c.id, token: c.text, bytes: c.bytes, logprob: c.logprob })),
            })),
          });
          events.onJob({ ...activity });
          if (activity.tokens >= expectedTokens) allDelivered();
        }),
      );
      expectedTokens = result.tokenEvents;
      if (activity.tokens >= expectedTokens) allDelivered();
      await delivered;
      ended = true;
      const end = { finishReason: result.finishReason, promptTokens: result.promptTokens, completionTokens: result.completionTokens };
      const signature = await this.options.identity.signResult(task, transcriptTokens, end);
      this.send({ type: 'done', jobId: task.jobId, text: result.tailText, ...end, signature });
      const span = activity.firstTokenAt !== null && activity.lastTokenAt !== null ? (activity.lastTokenAt - activity.firstTokenAt) / 1000 : 0;
      events.onJob(null, { activity, tokensPerSecond: activity.tokens > 1 && span > 0 ? (activity.tokens - 1) / span : null });
    } catch (error) {
      ended = true;
      const name = (error as { name?: string }).name ?? '';
      const message = error instanceof Error ? error.message : String(error);
      const code = TASK_FAILURE_CODES.find((c) => c === name) ?? 'worker_error';
      this.send({ type: 'failed', jobId: task.jobId, code, message });
      events.onLog(`job ${task.jobId} ended: ${message}`);
      events.onJob(null);
    } finally {
      this.running.delete(task.jobId);
    }
  }
}
