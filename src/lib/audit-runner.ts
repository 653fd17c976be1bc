/**
 * The verifier's side of an audit (issue #4), in a contributor tab: the coordinator's `audit` names a transcript by
 * its SHA-256 and where it comes from (a mesh peer, or inline); the runner waits for a copy that hashes right,
 * re-scores it on this tab's worker (one teacher-forced pass, worker/verify/rescore.ts) and answers with a signed
 * `verdict` — or `audit-failed` when it cannot judge (no right copy came in time, the model is not loaded, the
 * worker failed or took too long). A copy that is not the named transcript is ignored, not judged: a worker cannot
 * end its own audit by sending the verifier something else. Audits run one at a time, in arrival order, like
 * everything on the worker.
 */
import { toHex, transcriptOf } from '../protocol/identity.ts';
import { parseAuditTranscript, transcriptTokensOf, type AuditTranscript } from '../protocol/mesh.ts';
import type { CoordinatorToTab, TabToCoordinator, Verdict } from '../protocol/tab.ts';
import type { RescoreRequest } from '../protocol/worker.ts';

type AuditMessage = Extract<CoordinatorToTab, { type: 'audit' }>;
type AuditFailure = Extract<TabToCoordinator, { type: 'audit-failed' }>['reason'];

/** How long a verifier waits for the named transcript before it says none came (so the coordinator sends its copy). */
const TRANSCRIPT_WAIT_MS = 30_000;
/** Of the coordinator's `timeoutMs`, what the verifier leaves for its answer to travel. */
const ANSWER_MARGIN = 0.1;
/** Audits recently finished here: a copy or a resend arriving later is not judged again. */
const REMEMBER_FINISHED = 64;
/** Mesh payloads that arrived before their `audit` message are kept this long, and at most this many characters. */
const EARLY_PAYLOAD_MS = 10_000;
const MAX_EARLY_CHARS = 4_000_000;

export interface AuditRunnerDeps {
  rescore(request: RescoreRequest): Promise<Verdict>;
  signVerdict(auditId: string, transcriptSha256: string, verdict: Verdict): Promise<string>;
  send(message: TabToCoordinator): void;
  /** Let this mesh peer connect (the coordinator named it as the transcript's sender). */
  expectPeer(peerId: string): void;
  log(message: string): void;
  /** Test-hooks builds only (the `approve-everything` / `reject-everything` cheats): sign this verdict without re-scoring. */
  blindVerdict?: 'approve' | 'reject' | null;
  transcriptWaitMs?: number;
}

interface Pending {
  message: AuditMessage;
  /** Offers a copy of the transcript; only one that is the named transcript is taken. */
  offer(text: string, via: 'mesh' | 'inline'): void;
}

async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));
}

/** What a verifier that does not re-score signs (test-hooks cheats only). */
function blindVerdict(kind: 'approve' | 'reject'): Verdict {
  return { ok: kind === 'approve', firstFailure: kind === 'approve' ? null : { position: 0, reason: 'logprob_mismatch' }, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 0 };
}

export class AuditRunner {
  private readonly pending = new Map<string, Pending>();
  private readonly early: Array<{ from: string; auditId: string; text: string; at: number }> = [];
  private queue: Promise<void> = Promise.resolve();
  private readonly finished: string[] = [];
  /** How transcripts reached this verifier, copies refused, verdicts sent and audits failed (diagnostics, tests). */
  readonly stats = { mesh: 0, inline: 0, refused: 0, verdicts: 0, failed: 0 };

  constructor(private readonly deps: AuditRunnerDeps) {}

  /** An `audit` from the coordinator. */
  audit(message: AuditMessage): void {
    const waiting = this.pending.get(message.auditId);
    if (waiting) {
      // The coordinator resends an audit with its own copy inline when the mesh delivery failed.
      if (message.transcript !== undefined) waiting.offer(message.transcript, 'inline');
      return;
    }
    if (this.finished.includes(message.auditId)) return;
    // One deadline from now for the whole audit, inside the coordinator's wait for the verdict.
    const deadline = performance.now() + message.timeoutMs * (1 - ANSWER_MARGIN);
    if (message.from) this.deps.expectPeer(message.from);
    const transcript = new Promise<AuditTranscript | null>((resolve) => {
      let taken = false;
      const timer = setTimeout(() => {
        taken = true;
        // Gave up waiting: a copy the coordinator resends from now on starts the audit afresh.
        this.pending.delete(message.auditId);
        resolve(null);
      }, Math.min(this.deps.transcriptWaitMs ?? TRANSCRIPT_WAIT_MS, message.timeoutMs / 2));
      this.pending.set(message.auditId, {
        message,
        offer: (text, via) =>
          void this.check(message, text).then((claim) => {
            if (taken) return;
            if (!claim) {
              this.stats.refused++;
              return this.deps.log(`audit ${message.auditId}: ignored a ${via} copy that is not the transcript named`);
            }
            taken = true;
            clearTimeout(timer);
            this.stats[via]++;
            resolve(claim);
          }),
      });
    });
    if (message.transcript !== undefined) this.pending.get(message.auditId)?.offer(message.transcript, 'inline');
    else this.takeEarly(message);
    const turn = this.queue.then(() => this.judge(message, transcript, deadline));
    this.queue = turn.catch(() => {});
  }

  /** A payload another tab sent over the mesh; transcripts for audits are taken, anything else is ignored. */
  payload(from: string, bytes: Uint8Array): boolean {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return false;
    }
    const parsed = parseAuditTranscript(text);
    if (!parsed.ok) return false;
    const waiting = this.pending.get(parsed.message.auditId);
    if (waiting) {
      if (waiting.message.from === undefined || waiting.message.from === from) waiting.offer(text, 'mesh');
      return true;
    }
    const now = performance.now();
    this.early.push({ from, auditId: parsed.message.auditId, text, at: now });
    let chars = this.early.reduce((n, e) => n + e.text.length, 0);
    while (this.early.length && (chars > MAX_EARLY_CHARS || now - (this.early[0]?.at ?? now) > EARLY_PAYLOAD_MS)) chars -= this.early.shift()?.text.length ?? 0;
    return true;
  }

  /** The copy as a transcript if it is the one the audit names (its id, model and SHA-256), else null. */
  private async check(message: AuditMessage, text: string): Promise<AuditTranscript | null> {
    const parsed = parseAuditTranscript(text);
    if (!parsed.ok) return null;
    const claim = parsed.message;
    if (claim.auditId !== message.auditId || claim.task.model !== message.model) return null;
    return (await sha256Hex(transcriptOf(claim.task, transcriptTokensOf(claim), claim.end))) === message.transcriptSha256 ? claim : null;
  }

  private takeEarly(message: AuditMessage): void {
    const at = this.early.findIndex((e) => e.from === message.from && e.auditId === message.auditId);
    const found = at >= 0 ? this.early.splice(at, 1)[0] : undefined;
    if (found) this.pending.get(message.auditId)?.offer(found.text, 'mesh');
  }

  private async judge(message: AuditMessage, transcript: Promise<AuditTranscript | null>, deadline: number): Promise<void> {
    const { auditId } = message;
    const fail = (reason: AuditFailure, why: string) => {
      this.deps.log(`audit ${auditId}: ${why}`);
      this.stats.failed++;
      this.deps.send({ type: 'audit-failed', auditId, reason, message: why });
    };
    try {
      const claim = await transcript;
      if (!claim) return fail('transcript_missing', 'the named transcript did not arrive');
      // Judged once: a copy or a resend arriving from now on is ignored.
      this.pending.delete(auditId);
      this.remember(auditId);
      const verdict: Verdict = this.deps.blindVerdict
        ? blindVerdict(this.deps.blindVerdict)
        : await this.withDeadline(
            deadline,
            this.deps.rescore({ model: claim.task.model, messages: claim.task.messages, params: claim.task.params, ...(claim.task.prefix ? { prefix: claim.task.prefix } : {}), tokens: transcriptTokensOf(claim), finishReason: claim.end.finishReason, completionTokens: claim.end.completionTokens, promptTokens: claim.end.promptTokens, tolerances: message.tolerances }),
          );
      const signature = await this.deps.signVerdict(auditId, message.transcriptSha256, verdict);
      this.deps.send({ type: 'verdict', auditId, transcriptSha256: message.transcriptSha256, verdict, signature });
      this.stats.verdicts++;
    } catch (error) {
      const name = (error as { name?: string }).name;
      fail(name === 'model_not_loaded' ? 'model_not_loaded' : 'worker_error', error instanceof Error ? error.message : String(error));
    }
  }

  private remember(auditId: string): void {
    this.finished.push(auditId);
    if (this.finished.length > REMEMBER_FINISHED) this.finished.shift();
  }

  /** Gives up on a re-scoring not done by `deadline` (performance.now()), so later audits are not held behind it. */
  private withDeadline<T>(deadline: number, work: Promise<T>): Promise<T> {
    const ms = Math.max(0, deadline - performance.now());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`re-scoring did not finish within the ${Math.round(ms)} ms the audit had left`)), ms)));
    return Promise.race([work, expired]).finally(() => clearTimeout(timer));
  }
}
