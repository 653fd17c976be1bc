/**
 * The verifier's side of an audit (issue #4), in a contributor tab: the coordinator's `audit` names a transcript by
 * its SHA-256 and where it comes from (a mesh peer, or inline); the runner waits for it, checks the hash, re-scores
 * it on this tab's worker (one teacher-forced pass, worker/verify/rescore.ts) and answers with a signed `verdict` —
 * or `audit-failed` when it cannot judge (the transcript never came or is not the one named, the model is not
 * loaded). Audits run one at a time, in arrival order, like everything on the worker.
 */
import { toHex, transcriptOf } from '../protocol/identity.ts';
import { parseAuditTranscript, type AuditTranscript } from '../protocol/mesh.ts';
import type { CoordinatorToTab, TabToCoordinator, Verdict } from '../protocol/tab.ts';
import type { RescoreRequest } from '../protocol/worker.ts';

type AuditMessage = Extract<CoordinatorToTab, { type: 'audit' }>;
type AuditFailure = Extract<TabToCoordinator, { type: 'audit-failed' }>['reason'];

/** How long a verifier waits for a transcript sent over the mesh before it says it never came. */
const TRANSCRIPT_WAIT_MS = 30_000;
/** Mesh payloads that arrived before their `audit` message are kept this long (and at most this many). */
const EARLY_PAYLOAD_MS = 10_000;
const MAX_EARLY_PAYLOADS = 8;

export interface AuditRunnerDeps {
  rescore(request: RescoreRequest): Promise<Verdict>;
  signVerdict(auditId: string, transcriptSha256: string, verdict: Verdict): Promise<string>;
  send(message: TabToCoordinator): void;
  /** Let this mesh peer connect (the coordinator named it as the transcript's sender). */
  expectPeer(peerId: string): void;
  log(message: string): void;
  /** Test-hooks builds only (the `approve-everything` cheat): sign a pass without re-scoring. */
  approveEverything?: boolean;
  transcriptWaitMs?: number;
}

interface Pending {
  message: AuditMessage;
  deliver(text: string, via: 'mesh' | 'inline'): void;
}

async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));
}

export class AuditRunner {
  private readonly pending = new Map<string, Pending>();
  private readonly early: Array<{ from: string; auditId: string; text: string; at: number }> = [];
  private queue: Promise<void> = Promise.resolve();
  /** How transcripts reached this verifier, and the verdicts it sent (diagnostics, tests). */
  readonly stats = { mesh: 0, inline: 0, verdicts: 0, failed: 0 };

  constructor(private readonly deps: AuditRunnerDeps) {}

  /** An `audit` from the coordinator. */
  audit(message: AuditMessage): void {
    const waiting = this.pending.get(message.auditId);
    if (waiting) {
      // The coordinator resends an audit with the transcript inline when the mesh delivery failed.
      if (message.transcript !== undefined) waiting.deliver(message.transcript, 'inline');
      return;
    }
    if (message.from) this.deps.expectPeer(message.from);
    const transcript = new Promise<string | null>((resolve) => {
      let settled = false;
      const settle = (text: string | null) => {
        clearTimeout(timer);
        if (!settled) resolve(text);
        settled = true;
      };
      const timer = setTimeout(() => settle(null), this.deps.transcriptWaitMs ?? TRANSCRIPT_WAIT_MS);
      this.pending.set(message.auditId, {
        message,
        deliver: (text, via) => {
          if (!settled) this.stats[via]++;
          settle(text);
        },
      });
    });
    if (message.transcript !== undefined) this.pending.get(message.auditId)?.deliver(message.transcript, 'inline');
    else this.takeEarly(message);
    const turn = this.queue.then(() => this.judge(message, transcript));
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
    if (waiting && (waiting.message.from === undefined || waiting.message.from === from)) {
      waiting.deliver(text, 'mesh');
      return true;
    }
    const now = performance.now();
    while (this.early.length && (this.early.length >= MAX_EARLY_PAYLOADS || now - (this.early[0]?.at ?? now) > EARLY_PAYLOAD_MS)) this.early.shift();
    this.early.push({ from, auditId: parsed.message.auditId, text, at: now });
    return true;
  }

  private takeEarly(message: AuditMessage): void {
    const at = this.early.findIndex((e) => e.from === message.from && e.auditId === message.auditId);
    const found = at >= 0 ? this.early.splice(at, 1)[0] : undefined;
    if (found) this.pending.get(message.auditId)?.deliver(found.text, 'mesh');
  }

  private async judge(message: AuditMessage, transcript: Promise<string | null>): Promise<void> {
    const { auditId } = message;
    const fail = (reason: AuditFailure, why: string) => {
      this.deps.log(`audit ${auditId}: ${why}`);
      this.stats.failed++;
      this.deps.send({ type: 'audit-failed', auditId, reason, message: why });
    };
    try {
      const text = await transcript;
      if (text === null) return fail('transcript_missing', 'the transcript did not arrive');
      const parsed = parseAuditTranscript(text);
      if (!parsed.ok) return fail('transcript_mismatch', `the transcript is malformed: ${parsed.error}`);
      const claim: AuditTranscript = parsed.message;
      const tokens = claim.tokens.map(([id, logprob]) => ({ id, logprob }));
      if (claim.auditId !== auditId || claim.task.model !== message.model || (await sha256Hex(transcriptOf(claim.task, tokens, claim.end))) !== message.transcriptSha256)
        return fail('transcript_mismatch', 'the transcript is not the one the coordinator named');
      const verdict: Verdict = this.deps.approveEverything
        ? { ok: true, firstFailure: null, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 0 }
        : await this.deps.rescore({ model: claim.task.model, messages: claim.task.messages, params: claim.task.params, tokens, finishReason: claim.end.finishReason, completionTokens: claim.end.completionTokens, tolerances: message.tolerances });
      const signature = await this.deps.signVerdict(auditId, message.transcriptSha256, verdict);
      this.deps.send({ type: 'verdict', auditId, transcriptSha256: message.transcriptSha256, verdict, signature });
      this.stats.verdicts++;
    } catch (error) {
      const name = (error as { name?: string }).name;
      fail(name === 'model_not_loaded' ? 'model_not_loaded' : 'worker_error', error instanceof Error ? error.message : String(error));
    } finally {
      this.pending.delete(auditId);
    }
  }
}
