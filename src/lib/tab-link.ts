/**
 * The tab's side of the coordinator link: a WebSocket to /tabs (the session: identity, signalling of WebRTC,
 * fallback) and, when the coordinator offers one, a WebRTC data channel. Receives tasks on either, runs them on the
 * inference worker and streams tokens back on the link the task came on, so a job's messages stay in order.
 * Messages from the coordinator are validated; invalid ones are logged and dropped. Reconnects with backoff until
 * stopped.
 */
import { LOADING_REPORT_MS, MAX_PING_PAD_CHARS, NO_LIMITS, parseCoordinatorMessage, TAB_PROTOCOL_VERSION, type Backend, type ContributorLimits, type CoordinatorToTab, type TabToCoordinator, type TaskMessage, type WebRtcInvitation } from '../protocol/tab.ts';
import { TASK_FAILURE_CODES, type DeviceReport, type WorkerToken } from '../protocol/worker.ts';
import type { InferenceWorker } from './inference-worker.ts';
import type { ContributorIdentity } from './identity.ts';
import { listenForCoordinator, type DataChannelLink, type WebRtcListener } from './webrtc-listener.ts';
import type { PeerMesh } from './peer-mesh.ts';
import { JobOutbox } from './job-outbox.ts';
import { AuditRunner } from './audit-runner.ts';
import { TranscriptShelf } from './transcript-shelf.ts';
import type { TranscriptToken } from '../protocol/identity.ts';

/** Outboxes of ended jobs are kept this long, for a `resume` after a data channel was lost. */
const KEEP_ENDED_JOBS = 16;

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
  /** Which link carries the session now. */
  onTransport(transport: 'websocket' | 'webrtc'): void;
  /** A payload another tab sent over the mesh. */
  onMeshPayload?(from: string, payload: Uint8Array): void;
  /** The engine now holds another model: one a task needed, loaded on demand. */
  onModels?(models: string[]): void;
}

export interface TabLinkOptions {
  url: string;
  worker: InferenceWorker;
  backend: Backend;
  device: DeviceReport;
  models: string[];
  identity: ContributorIdentity;
  /** The requester account this identity's rewards go to as they mature (the widget's lend frame: the site's). */
  payoutAccount?: string;
  /** Accept the coordinator's WebRTC data channel when offered (default true). */
  webrtc?: boolean;
  /** Test-hooks builds only: as a verifier, approve (a lazy verifier) or reject every audit without re-scoring. */
  blindVerdict?: 'approve' | 'reject' | null;
  /** Decode tokens/s per model from the calibration run when it loaded (calibration.ts). */
  calibration?: Record<string, number>;
  /** The models in this browser's model cache, asked again for every status. */
  cachedModels?: () => Promise<string[]>;
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
  /** Whether the coordinator accepted this session's hello: a status before it would be out of order. */
  private accepted = false;
  private rtc: DataChannelLink | null = null;
  private listener: WebRtcListener | null = null;
  /** Jobs cancelled before their task arrived (the cancel came on the faster link): not to be started. */
  private readonly cancelledEarly: string[] = [];
  private readonly pongs = new Map<string, () => void>();
  private pingCount = 0;
  private listeningSince: number | null = null;
  private limits: ContributorLimits = NO_LIMITS;
  /** The models in the worker's engine, as far as this tab knows: the page's, then those tasks loaded on demand. */
  private loaded: string[];
  /** Jobs this tab continued on the WebSocket after their data channel closed (diagnostics, tests). */
  resumedJobs = 0;
  /** From saying `webrtc listening` to the coordinator's data channel being open, in ms (null: not yet). */
  webrtcConnectMs: number | null = null;
  /** Every running job's outbox, and the last few ended ones. */
  private readonly outboxes = new Map<string, JobOutbox>();
  /** Transcripts of this tab's last finished jobs, for audits of them. */
  private readonly shelf = new TranscriptShelf();
  private readonly audits: AuditRunner;

  constructor(private readonly options: TabLinkOptions) {
    this.loaded = [...options.models];
    this.audits = new AuditRunner({
      // An audit of a model this tab serves loads it when the engine holds another (a job may have switched it).
      rescore: (request) => options.worker.rescore(request, this.servable(request.model) ? () => {} : undefined).finally(() => void this.checkHeld()),
      signVerdict: (auditId, sha256, verdict) => options.identity.signVerdict(auditId, sha256, verdict),
      send: (message) => this.send(message),
      expectPeer: (peerId) => this.listener?.mesh?.expect(peerId),
      log: options.events.onLog,
      blindVerdict: options.blindVerdict ?? null,
    });
  }

  start(): void {
    this.stopped = false;
    document.addEventListener('visibilitychange', this.reportStatus);
    this.connect();
  }

  /**
   * Tells the coordinator whether the page is hidden (browsers throttle hidden tabs, so it prefers visible ones),
   * which models are cached here and how fast the calibration ran.
   */
  private readonly reportStatus = () => {
    if (!this.accepted) return;
    const hidden = document.visibilityState === 'hidden';
    const { calibration, cachedModels } = this.options;
    const limits = this.limits;
    void (cachedModels?.() ?? Promise.resolve(undefined))
      .catch(() => undefined)
      .then((cached) => this.send({ type: 'status', hidden, ...(cached ? { cached: cached.slice(0, 64) } : {}), ...(calibration ? { calibration } : {}), limits }));
  };

  /** What the contributor allows this tab (pause, models, share of time); the coordinator keeps to it from now on. */
  setLimits(limits: ContributorLimits): void {
    this.limits = { ...limits };
    this.reportStatus();
  }

  /** Disconnects and stops the jobs in flight. */
  stop(): void {
    this.stopped = true;
    document.removeEventListener('visibilitychange', this.reportStatus);
    this.cancelRunning();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.socket?.close(1000, 'contributor stopped');
    this.socket = null;
    this.dropWebRtc();
  }

  private dropWebRtc(): void {
    this.listener?.close();
    this.listener = null;
    if (this.rtc) this.options.events.onTransport('websocket');
    this.rtc = null;
  }

  /** The coordinator fails a session's jobs when its link drops; the worker must stop them too. */
  private cancelRunning(): void {
    for (const jobId of this.running) void this.options.worker.cancel(jobId);
  }

  private send(message: TabToCoordinator): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private connect(): void {
    const { events } = this.options;
    events.onStatus('connecting', null);
    const socket = new WebSocket(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      this.retryMs = 500;
    };
    socket.onmessage = (event) => this.receive(event.data, null);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.dropWebRtc();
      this.cancelRunning();
      this.accepted = false;
      events.onStatus('disconnected', null);
      if (this.stopped) return;
      this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    };
  }

  /** A message from the coordinator, over the WebSocket (`via` null) or a data channel. */
  private receive(raw: unknown, via: DataChannelLink | null): void {
    const { events, backend, device } = this.options;
    const parsed = parseCoordinatorMessage(raw);
    if (!parsed.ok) return events.onLog(`dropped a message from the coordinator: ${parsed.error}`);
    const message = parsed.message;
    switch (message.type) {
        case 'welcome':
          this.tabId = message.tabId;
          this.accepted = false;
          // A new session: the jobs of the last one ended with it (the coordinator failed them over or failed them).
          // Their work stops, and their outboxes go, so a continuation of one of them sent here runs as a new task.
          this.cancelRunning();
          for (const outbox of this.outboxes.values()) outbox.abandon();
          this.outboxes.clear();
          // The coordinator gives a session work only after its hello proved the identity (`accepted`).
          return void this.options.identity.prove(message.challenge).then((identity) =>
            this.send({ type: 'hello', protocol: TAB_PROTOCOL_VERSION, backend, adapter: backend === 'webgpu' ? device.adapter : null, limits: backend === 'webgpu' ? device.limits : null, models: this.loaded, identity, ...(this.options.payoutAccount ? { payoutAccount: this.options.payoutAccount } : {}) }),
            (error: unknown) => events.onLog(`could not sign the session challenge: ${String(error)}`),
          );
        case 'accepted':
          this.accepted = true;
          events.onStatus('connected', this.tabId);
          this.reportStatus();
          if (message.webrtc && this.options.webrtc !== false && !this.listener) this.listenForWebRtc(message.webrtc);
          return;
        case 'task': {
          // The same task again: the data channel it came on was lost before the coordinator heard any token.
          const known = this.outboxes.get(message.jobId);
          if (known) return this.resume(known, 0);
          if (this.cancelledEarly.includes(message.jobId)) return;
          return void this.runTask(message, via);
        }
        case 'resume': {
          const outbox = this.outboxes.get(message.jobId);
          if (outbox) return this.resume(outbox, message.from);
          return this.send({ type: 'failed', jobId: message.jobId, code: 'worker_error', message: 'this tab has no record of the job' });
        }
        case 'cancel':
          if (!this.running.has(message.jobId)) {
            this.cancelledEarly.push(message.jobId);
            if (this.cancelledEarly.length > 64) this.cancelledEarly.shift();
          }
          return void this.options.worker.cancel(message.jobId);
        case 'pong':
          this.pongs.get(message.nonce)?.();
          this.pongs.delete(message.nonce);
          return;
        case 'mesh-expect':
          if (!this.listener?.mesh) return events.onLog('mesh: no WebRTC peer to accept a connection on');
          return this.listener.mesh.expect(message.peerId);
        case 'mesh-dial':
          if (!this.listener?.mesh) return events.onLog('mesh: no WebRTC peer to dial from');
          return void this.listener.mesh.dial(message.peerId).catch((error: unknown) => events.onLog(`mesh: ${String(error)}`));
        case 'audit':
          return this.audits.audit(message);
        case 'share':
          return void this.share(message);
        case 'error':
          return events.onLog(`coordinator: ${message.code}: ${message.message}`);
      }
    }

  private listenForWebRtc(invitation: WebRtcInvitation): void {
    const { events } = this.options;
    this.listener = listenForCoordinator(invitation, {
      onListening: () => {
        this.listeningSince = performance.now();
        this.send({ type: 'webrtc', state: 'listening' });
      },
      onUnavailable: (reason) => this.send({ type: 'webrtc', state: 'unavailable', reason: reason.slice(0, 500) }),
      onOpen: (channel) => {
        if (this.listeningSince !== null) this.webrtcConnectMs ??= performance.now() - this.listeningSince;
        this.rtc = channel;
        events.onTransport('webrtc');
      },
      onMessage: (channel, raw) => {
        if (this.rtc === channel) this.receive(raw, channel);
      },
      onClose: (channel) => {
        for (const outbox of this.outboxes.values()) outbox.channelClosed(channel);
        if (this.rtc !== channel) return;
        this.rtc = null;
        events.onTransport('websocket');
      },
      onMeshPayload: (from, payload) => {
        if (!this.audits.payload(from, payload)) events.onMeshPayload?.(from, payload);
      },
      onLog: events.onLog,
    });
  }

  /** Round trip of a `ping` over the WebSocket or the data channel, in ms (diagnostics, `npm run bench`). */
  async ping(via: 'websocket' | 'webrtc', padChars = 0): Promise<number> {
    const started = performance.now();
    await this.sendPing(via, padChars);
    return performance.now() - started;
  }

  /** Sends about `bytes` of padded pings back to back on one link; bytes per second until the last pong. */
  async throughput(via: 'websocket' | 'webrtc', bytes: number, padChars = MAX_PING_PAD_CHARS): Promise<number> {
    const started = performance.now();
    const answers: Array<Promise<void>> = [];
    for (let sent = 0; sent < bytes; sent += padChars) answers.push(this.sendPing(via, padChars));
    await Promise.all(answers);
    return (answers.length * padChars) / ((performance.now() - started) / 1000);
  }

  private sendPing(via: 'websocket' | 'webrtc', padChars: number): Promise<void> {
    const nonce = `p${this.pingCount++}`;
    const message: TabToCoordinator = { type: 'ping', nonce, ...(padChars ? { pad: 'x'.repeat(Math.min(padChars, MAX_PING_PAD_CHARS)) } : {}) };
    const answered = new Promise<void>((resolve) => this.pongs.set(nonce, resolve));
    if (via === 'webrtc') {
      if (!this.rtc?.open) return Promise.reject(new Error('no data channel'));
      this.rtc.send(JSON.stringify(message));
    } else this.send(message);
    return answered;
  }

  /** How audit transcripts reached this tab as a verifier, and its verdicts (diagnostics, tests). */
  get auditStats(): AuditRunner['stats'] {
    return { ...this.audits.stats };
  }

  /** This tab's connections to other tabs (null until the coordinator offered WebRTC). */
  get mesh(): PeerMesh | null {
    return this.listener?.mesh ?? null;
  }

  /** Closes the data channel (the session goes on over the WebSocket); for diagnostics and tests. */
  closeDataChannel(): void {
    this.rtc?.close();
  }

  /** Sends a transcript to the verifier the coordinator named, over the mesh. */
  private async share(message: Extract<CoordinatorToTab, { type: 'share' }>): Promise<void> {
    const { auditId, to } = message;
    const fail = (why: string) => {
      this.options.events.onLog(`audit ${auditId}: could not send the transcript: ${why}`);
      this.send({ type: 'share-failed', auditId, message: why.slice(0, 2000) });
    };
    const text = message.transcript ?? this.shelf.payload(auditId, message.jobId);
    if (text === null) return fail(`this tab has no transcript of ${message.jobId}`);
    const mesh = this.listener?.mesh;
    if (!mesh) return fail('this tab has no mesh peer');
    try {
      // The verifier may not have read its `audit` (and so let us in) yet when we call: one more try after a second.
      await mesh.dial(to).catch(() => new Promise((resolve) => setTimeout(resolve, 1000)).then(() => mesh.dial(to)));
      await mesh.send(to, new TextEncoder().encode(text));
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error));
    }
  }

  private resume(outbox: JobOutbox, from: number): void {
    if (outbox.onDataChannel) this.resumedJobs++;
    outbox.resume(from);
  }

  private openOutbox(jobId: string, via: DataChannelLink | null): JobOutbox {
    const outbox = new JobOutbox(jobId, via, (m) => this.send(m));
    this.outboxes.set(jobId, outbox);
    const ended = [...this.outboxes.values()].filter((o) => o.ended);
    for (const old of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED_JOBS))) this.outboxes.delete(old.jobId);
    return outbox;
  }

  /** Whether this tab serves `model`: its engine holds it, or its contributor listed it to load on demand. */
  private servable(model: string): boolean {
    return this.loaded.includes(model) || (this.limits.models?.includes(model) ?? false);
  }

  /** Asks the worker which model its engine holds (a task may have loaded another, even one that then failed). */
  private async checkHeld(): Promise<void> {
    const model = await this.options.worker.held().catch(() => null);
    if (model !== null) this.holds(model);
  }

  /**
   * The worker's engine now holds `model`: when that is news, the coordinator hears the models this tab now serves
   * without loading, and its cache.
   */
  private holds(model: string): void {
    if (this.loaded.length === 1 && this.loaded[0] === model) return;
    this.loaded = [model];
    this.send({ type: 'models', models: this.loaded });
    this.reportStatus();
    this.options.events.onModels?.([...this.loaded]);
  }

  /**
   * Reports an on-demand load's progress for the job, at most every LOADING_REPORT_MS (and its first report), until
   * the job ended (a cancelled job's load stops at the next file, and says nothing more).
   */
  private loadingReporter(task: TaskMessage, ended: () => boolean): (p: { loadedBytes: number; totalBytes: number }) => void {
    let last = -Infinity;
    return ({ loadedBytes, totalBytes }) => {
      const now = performance.now();
      if (ended() || now - last < LOADING_REPORT_MS) return;
      last = now;
      this.send({ type: 'loading', jobId: task.jobId, model: task.model, loadedBytes, totalBytes });
    };
  }

  private async runTask(task: TaskMessage, via: DataChannelLink | null): Promise<void> {
    const { worker, events } = this.options;
    // A model the engine holds, or one the contributor lets this tab load on demand (the worker loads it at the
    // task's turn: the engine may hold another model by then); any other fails with model_not_loaded.
    const servable = this.servable(task.model);
    const activity: JobActivity = { jobId: task.jobId, tokens: 0, startedAt: performance.now(), firstTokenAt: null, lastTokenAt: null };
    let ended = false;
    const outbox = this.openOutbox(task.jobId, via);
    const transcriptTokens: TranscriptToken[] = [];
    events.onJob({ ...activity });
    this.running.add(task.jobId);
    try {
      const result = await worker.run(
        task.jobId,
        { model: task.model, messages: task.messages, params: task.params, ...(task.prefix ? { prefix: task.prefix } : {}) },
        (batch: WorkerToken[]) => {
          if (ended) return; // stragglers after the job failed or was cancelled
          this.holds(task.model);
          const now = performance.now();
          activity.tokens += batch.length;
          for (const t of batch) transcriptTokens.push({ id: t.id, logprob: t.logprob, top: t.top.map((c) => ({ id: c.id, logprob: c.logprob })) });
          activity.firstTokenAt ??= now;
          activity.lastTokenAt = now;
          outbox.push({
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
        },
        servable ? this.loadingReporter(task, () => ended || !this.running.has(task.jobId)) : undefined,
      );
      ended = true;
      const end = { finishReason: result.finishReason, promptTokens: result.promptTokens, completionTokens: result.completionTokens };
      const signature = await this.options.identity.signResult(task, transcriptTokens, end);
      this.shelf.keep(task, transcriptTokens, end);
      outbox.push({ type: 'done', jobId: task.jobId, text: result.tailText, ...end, signature });
      const span = activity.firstTokenAt !== null && activity.lastTokenAt !== null ? (activity.lastTokenAt - activity.firstTokenAt) / 1000 : 0;
      events.onJob(null, { activity, tokensPerSecond: activity.tokens > 1 && span > 0 ? (activity.tokens - 1) / span : null });
    } catch (error) {
      ended = true;
      const name = (error as { name?: string }).name ?? '';
      const message = error instanceof Error ? error.message : String(error);
      const code = TASK_FAILURE_CODES.find((c) => c === name) ?? 'worker_error';
      outbox.push({ type: 'failed', jobId: task.jobId, code, message });
      events.onLog(`job ${task.jobId} ended: ${message}`);
      events.onJob(null);
    } finally {
      this.running.delete(task.jobId);
      void this.checkHeld();
    }
  }
}
