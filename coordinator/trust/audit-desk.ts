/**
 * Audits of finished jobs (issue #4; design.md "Verifiable sampling", "Audit rate"). When a job ends with a valid
 * signed result, the audit policy decides whether to audit it; the requester has its answer already and never
 * waits. An audit goes to a verifier tab of another identity that serves the same model: the coordinator names the
 * transcript by the SHA-256 the worker signed, the worker sends it over the mesh (`share`), the verifier re-scores
 * it and answers with a signed verdict. How verdicts decide: audit-decision.ts.
 *
 * Delivery falls back to the coordinator's own copy, inline in `audit`, when the worker has left, has no mesh peer,
 * or the mesh transfer failed — leaving the network right after a job does not dodge its audit.
 *
 * Lazy verifiers: now and then the coordinator plants a known-bad copy of a recent transcript (audit-decision.ts
 * `plantedTranscript`), carried to the verifier by another tab over the mesh like any transcript. A verifier whose
 * pass is the only one on an audit and who has never rejected a planted transcript gets one at once. A verifier
 * that approves one is no longer trusted, nor is an identity convicted as a worker (its model is suspect): their
 * verdicts stop counting, also on audits still open.
 *
 * Verifiers that reject everything: the coordinator also plants known-good copies of transcripts whose audit a
 * proven verifier passed (`knownGoodTranscript`). Only failures of verifiers that approved one convict; a verifier
 * whose failure would count and who never approved one gets one at once, and the audit waits for its answer. A
 * verifier that rejects one is no longer trusted. Either kind of copy is kept from verifiers who judged its source.
 * Pending audits are not published (audit-book.ts), so a verifier cannot look up whether what it got is a real job.
 */
import { allowsModel } from '../schedule/contributor-limits.ts';
import { randomUUID } from 'node:crypto';
import { MAX_TAB_MESSAGE_CHARS, type TabToCoordinator, type Tolerances } from '../../src/protocol/tab.ts';
import { toHex, transcriptOf, verdictMessage, verdictStatementOf } from '../../src/protocol/identity.ts';
import { auditTranscriptOf } from '../../src/protocol/mesh.ts';
import { sha256, verifyEd25519 } from '../identity/ed25519.ts';
import type { Tab, TabRegistry } from '../tabs/tab-registry.ts';
import { auditDecision, knownGoodTranscript, MAX_VERIFIERS, plantedTranscript, type PlantKind, type TranscriptParts } from './audit-decision.ts';
import { shouldAudit, type AuditPolicy } from './audit-policy.ts';
import type { AuditBook } from './audit-book.ts';
import { pickCourier, pickVerifier } from './verifier-choice.ts';
import { MAX_STRIKES, PlantSources, Strikes, STRIKE_PAUSE_MS, type PlantSource } from './desk-memory.ts';

type FromVerifier = Extract<TabToCoordinator, { type: 'verdict' | 'audit-failed' | 'share-failed' }>;

/** A job that ended with a result signature the coordinator verified. */
export interface CompletedJob extends TranscriptParts {
  tab: Tab;
}

/** Who hears what audits do with money attached (contributor-accounts.ts); calls must not throw. */
export interface AuditListener {
  /** A verifier gave a signed verdict (on a real transcript, or the right one on a planted one): it earns its fee. */
  verdictGiven(v: { auditId: string; verifierId: string; model: string; promptTokens: number; completionTokens: number }): void;
  /** A real job's audit was decided; `convictedBy` are the proven verifiers whose failing verdicts convicted it. */
  decided(d: { jobId: string; workerId: string; status: 'passed' | 'convicted' | 'unverified'; convictedBy: string[] }): void;
}

export interface AuditDeskOptions {
  listener?: AuditListener;
  registry: TabRegistry;
  book: AuditBook;
  policy: AuditPolicy;
  tolerances: Tolerances;
  /** Chance, per completed job, of also planting a copy of a recent transcript (known-bad or known-good, evenly) with some verifier. */
  plantRate: number;
  random: () => number;
  /** A verifier that has not answered this long after it was given an audit is passed over. */
  verdictTimeoutMs: number;
  /** An audit that waited this long in the queue (not counting time with verifiers) is recorded as unverified. */
  pendingTimeoutMs: number;
  now?: () => number;
  log?: (message: string) => void;
}

interface Audit {
  id: string;
  model: string;
  parts: TranscriptParts;
  sha256: string;
  /** The worker's tab; null for a planted transcript, which another tab carries. */
  worker: Tab | null;
  workerId: string;
  /** What a planted transcript tests; null for a real job's. */
  planted: PlantKind | null;
  /** For a planted audit: the identity it is meant to test, if any (only it may take the audit), and its source. */
  preferred: string | null;
  source: PlantSource | null;
  verdicts: Array<{ verifier: string; ok: boolean }>;
  /** Identities that may not take this audit: the worker, verifiers who judged it or failed to. */
  excluded: Set<string>;
  assigned: { verifier: Tab; sender: Tab | null; inline: boolean; timer: ReturnType<typeof setTimeout> } | null;
  /** When it last joined the queue (waiting time counts from here), and when it was opened. */
  queuedAt: number;
  openedAt: number;
}

/**
 * Open audits at most, in all and of one worker identity: beyond that a job's audit is recorded as unverified at
 * once (which keeps that identity on probation), so one flooding identity cannot crowd out everyone else's audits.
 */
const MAX_OPEN_AUDITS = 10_000;
const MAX_OPEN_AUDITS_PER_WORKER = 200;
/** However often it is passed over, an audit is unverified this long after it was opened. */
const MAX_AUDIT_LIFETIME_FACTOR = 6;


export class AuditDesk {
  private readonly audits = new Map<string, Audit>();
  private queue: Audit[] = [];
  private readonly busy = new Set<Tab>();
  private readonly sources = new PlantSources();
  /** Transcripts whose audit a proven verifier passed: the sources of known-good copies. */
  private readonly passedSources = new PlantSources(32);
  private readonly openByWorker = new Map<string, number>();
  /** Planted transcripts open per kind and the identity each is meant for ("known-good <id>"). */
  private readonly tests = new Map<string, number>();
  /** Tabs that took audits and gave no usable answer (a hung worker, say): paused after a few in a row. */
  private readonly strikes = new Strikes<Tab>();
  private readonly now: () => number;
  private readonly log: (message: string) => void;

  constructor(private readonly options: AuditDeskOptions) {
    this.now = options.now ?? (() => performance.now());
    this.log = options.log ?? (() => {});
  }

  /** Audits waiting for a verifier or being judged. */
  get open(): number {
    return this.audits.size;
  }

  jobCompleted(job: CompletedJob): void {
    const workerId = job.tab.contributorId;
    if (!workerId) return;
    const { book, policy, random } = this.options;
    const model = job.task.model;
    this.sources.add({ task: job.task, tokens: job.tokens, end: job.end }, workerId);
    if (shouldAudit(book.record(workerId), policy, random())) {
      const audit = this.newAudit(job, job.tab, workerId, null);
      book.opened({ jobId: job.task.jobId, model, contributorId: workerId, transcriptSha256: audit?.sha256 ?? '' });
      if (!audit) {
        book.decided(job.task.jobId, 'unverified');
        this.options.listener?.decided({ jobId: job.task.jobId, workerId, status: 'unverified', convictedBy: [] });
      }
    }
    const draw = random();
    if (draw < this.options.plantRate) this.plant(draw < this.options.plantRate / 2 ? 'known-good' : 'known-bad', model, null);
    this.pump();
  }

  /** A verifier's answer. Answers to audits the tab was not given are dropped. */
  handle(tab: Tab, message: FromVerifier): void {
    const audit = this.audits.get(message.auditId);
    if (message.type === 'share-failed') {
      if (audit?.assigned?.sender === tab) this.deliverInline(audit, `the sender could not: ${message.message}`);
      return;
    }
    if (!audit || audit.assigned?.verifier !== tab) return this.log(`${tab.id}: ${message.type} for audit ${message.auditId}, which it was not given; dropped`);
    const verifierId = tab.contributorId as string;
    if (message.type === 'audit-failed') {
      if (message.reason === 'transcript_missing' || message.reason === 'transcript_mismatch') {
        // The mesh copy never came right: send ours. If ours is already on its way, the verifier judges it when it
        // arrives (as a new audit if it had given up); the verdict timeout covers a verifier that never does.
        if (!audit.assigned.inline) this.deliverInline(audit, message.message);
        return;
      }
      this.log(`${tab.id}: could not judge audit ${audit.id}: ${message.reason}: ${message.message}`);
      return this.passOver(audit);
    }
    const statement = verdictStatementOf(audit.id, audit.sha256, message.verdict);
    if (message.transcriptSha256 !== audit.sha256 || !tab.publicKey || !verifyEd25519(tab.publicKey, verdictMessage(sha256(statement)), message.signature)) {
      this.log(`${tab.id}: the verdict on audit ${audit.id} is not signed for this transcript; passed over`);
      return this.passOver(audit);
    }
    this.release(audit);
    this.strikes.clear(tab);
    const { book } = this.options;
    const { promptTokens, completionTokens } = audit.parts.end;
    const ok = message.verdict.ok;
    // Every verdict earns its fee, except the wrong one on a planted transcript.
    const wrong = (audit.planted === 'known-bad' && ok) || (audit.planted === 'known-good' && !ok);
    if (!wrong) this.options.listener?.verdictGiven({ auditId: audit.id, verifierId, model: audit.model, promptTokens, completionTokens });
    if (audit.planted) {
      book.plantedJudged(verifierId, ok, audit.planted);
      if (wrong) this.log(`${tab.id}: verifier ${verifierId} ${ok ? 'approved' : 'rejected'} a planted ${audit.planted} transcript; it gets no more audits`);
      this.forget(audit);
      return this.pump();
    }
    book.verdict(audit.parts.task.jobId, { auditId: audit.id, verifier: verifierId, publicKey: tab.publicKey, backend: tab.backend, verdict: message.verdict, signature: message.signature, at: new Date().toISOString() });
    audit.verdicts.push({ verifier: verifierId, ok });
    audit.excluded.add(verifierId);
    // A failure from a verifier not known to be fair: test it with a known-good transcript, so its failure can
    // convict (planted first, so that settling waits for the answer, whichever verdict this is).
    if (!ok && !book.fairVerifier(verifierId) && !this.testing(verifierId, 'known-good')) this.plant('known-good', audit.model, verifierId);
    if (!this.settle(audit)) {
      audit.queuedAt = this.now();
      this.queue.push(audit);
      // A lone pass from a verifier never tested: test it now, so its pass can count.
      if (ok && !book.provenVerifier(verifierId) && !this.testing(verifierId, 'known-bad')) this.plant('known-bad', audit.model, verifierId);
    }
    this.pump();
  }

  /** Whether a planted transcript of `kind` meant for `verifierId` is open (O(1): settle asks for every failing verdict). */
  private testing(verifierId: string, kind: PlantKind): boolean {
    return (this.tests.get(`${kind} ${verifierId}`) ?? 0) > 0;
  }

  private forget(audit: Audit): void {
    this.audits.delete(audit.id);
    if (!audit.planted || audit.preferred === null) return;
    const key = `${audit.planted} ${audit.preferred}`;
    const left = (this.tests.get(key) ?? 1) - 1;
    if (left > 0) this.tests.set(key, left);
    else this.tests.delete(key);
  }

  /** A verifier left: its audits go to others. (Audits of a worker that left continue from the coordinator's copy.) */
  tabClosed(tab: Tab): void {
    for (const audit of this.audits.values()) if (audit.assigned?.verifier === tab) this.passOver(audit, false);
    this.busy.delete(tab);
    this.strikes.clear(tab);
    this.pump();
  }

  /** When pump last walked the whole queue. */
  private lastFullPass = -Infinity;

  /** Gives waiting audits to free verifiers and gives up on those that waited too long. Call when tabs change. */
  pump(): void {
    // Called on every job's end and every second: nothing to do costs nothing.
    if (this.queue.length === 0) return;
    const { book, random, pendingTimeoutMs } = this.options;
    const now = this.now();
    // Free verifiers by model, built once: each queued audit then looks only at tabs serving its model.
    const freeByModel = new Map<string, Tab[]>();
    for (const t of this.options.registry.ready()) {
      if (t.contributorId === null || this.busy.has(t) || this.strikes.paused(t, now) || !book.trustedVerifier(t.contributorId)) continue;
      for (const model of t.models) {
        // Verifying is work too: not on a paused tab, nor on a model its contributor does not allow.
        if (!allowsModel(t.contributorLimits, model)) continue;
        const tabs = freeByModel.get(model);
        if (tabs) tabs.push(t);
        else freeByModel.set(model, [t]);
      }
    }
    // With no verifier free, a pass can only close audits that timed out or whose verdicts now decide them: once a
    // second is enough, not at every job's end (a long queue would cost each job a walk through it).
    if (freeByModel.size === 0 && now - this.lastFullPass < 1000) return;
    this.lastFullPass = now;
    const waiting: Audit[] = [];
    // Planted transcripts meant for a verifier whose pass awaits its test go first.
    const order = [...this.queue.filter((a) => a.preferred !== null), ...this.queue.filter((a) => a.preferred === null)];
    for (const audit of order) {
      if (now - audit.queuedAt > pendingTimeoutMs || now - audit.openedAt > MAX_AUDIT_LIFETIME_FACTOR * pendingTimeoutMs) {
        this.close(audit, 'unverified');
        continue;
      }
      // A verdict may count differently since (its verifier was proven, or is no longer trusted): that may decide it.
      if (audit.verdicts.length && this.settle(audit)) continue;
      // Enough verdicts, waiting only for a failing verifier's test: no other verifier needs to judge it.
      if (this.countedVerdicts(audit).length >= MAX_VERIFIERS) {
        waiting.push(audit);
        continue;
      }
      // A test meant for one identity goes to it alone (another's verdict would not test it).
      const free = audit.planted && audit.preferred !== null ? freeByModel.get(audit.model)?.filter((t) => t.contributorId === audit.preferred) : freeByModel.get(audit.model);
      const tested = audit.planted === 'known-good' ? (id: string) => book.goodApprovedBy(id) : (id: string) => book.plantedRejectedBy(id);
      const verifier = free?.length ? pickVerifier(free, audit, tested, random) : null;
      if (!verifier) {
        waiting.push(audit);
        continue;
      }
      for (const model of verifier.models) freeByModel.set(model, (freeByModel.get(model) ?? []).filter((t) => t !== verifier));
      this.assign(audit, verifier);
    }
    this.queue = waiting;
  }

  /** The verdicts that count: those of verifiers still trusted, each as proven and fair or not. */
  private countedVerdicts(audit: Audit) {
    const { book } = this.options;
    return audit.verdicts.filter((v) => book.trustedVerifier(v.verifier)).map((v) => ({ ok: v.ok, proven: book.provenVerifier(v.verifier), fair: book.fairVerifier(v.verifier), verifier: v.verifier }));
  }

  /**
   * Decides the audit if its verdicts allow. Undecided, it waits for more verdicts (three at most), and beyond that
   * while a failing verifier's known-good test is open (its answer may let the failure count). True when it closed.
   */
  private settle(audit: Audit): boolean {
    const counted = this.countedVerdicts(audit);
    const decision = auditDecision(counted);
    if (decision === 'undecided' && (counted.length < MAX_VERIFIERS || counted.some((v) => !v.ok && !v.fair && this.testing(v.verifier, 'known-good')))) return false;
    // A source of known-good copies: passed by every verifier, one of them proven. All who had the transcript know it.
    if (decision === 'passed' && audit.verdicts.every((v) => v.ok) && counted.some((v) => v.ok && v.proven)) this.passedSources.add(audit.parts, audit.workerId, audit.excluded, audit.verdicts.map((v) => v.verifier));
    this.close(audit, decision === 'undecided' ? 'unverified' : decision);
    return true;
  }

  /**
   * Plants a copy of a recent transcript of `model` (known-bad: any job's, altered; known-good: one whose audit
   * every verifier passed, one of them proven, whose worker was never convicted and whose verifiers are all still
   * trusted), for `preferred` if given, else for any verifier who has not had its source.
   */
  private plant(kind: PlantKind, model: string, preferred: string | null): void {
    const { random, book } = this.options;
    const jobId = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const source =
      kind === 'known-good'
        ? this.passedSources.pick(model, preferred, random, (s) => !book.convictedWorker(s.workerId) && s.passedBy.every((id) => book.trustedVerifier(id)))
        : this.sources.pick(model, preferred, random);
    const planted = source && (kind === 'known-good' ? knownGoodTranscript(source.parts, jobId) : plantedTranscript(source.parts, jobId, random));
    if (!planted) {
      if (preferred !== null) this.log(`no ${kind} transcript of ${model} to test verifier ${preferred} with`);
      return;
    }
    const audit = this.newAudit(planted, null, source.workerId, kind);
    if (!audit) return;
    audit.preferred = preferred;
    audit.source = source;
    if (preferred !== null) this.tests.set(`${kind} ${preferred}`, (this.tests.get(`${kind} ${preferred}`) ?? 0) + 1);
    // Who had the source could know the copy for what it is (the one it is meant for got an unseen source if there was one).
    for (const seen of source.seenBy) if (seen !== preferred) audit.excluded.add(seen);
    this.options.book.plantedSent();
  }

  private newAudit(parts: TranscriptParts, worker: Tab | null, workerId: string, planted: PlantKind | null): Audit | null {
    const ofWorker = this.openByWorker.get(workerId) ?? 0;
    if (this.audits.size >= MAX_OPEN_AUDITS || (!planted && ofWorker >= MAX_OPEN_AUDITS_PER_WORKER)) {
      this.log(`too many audits open (${this.audits.size}, ${ofWorker} of ${workerId || 'planted'}); ${planted ? 'not planting' : `job ${parts.task.jobId} goes unverified`}`);
      return null;
    }
    if (!planted) this.openByWorker.set(workerId, ofWorker + 1);
    const audit: Audit = {
      id: `audit-${randomUUID()}`,
      model: parts.task.model,
      parts: { task: parts.task, tokens: parts.tokens, end: parts.end },
      sha256: toHex(sha256(transcriptOf(parts.task, parts.tokens, parts.end))),
      worker,
      workerId,
      planted,
      preferred: null,
      source: null,
      verdicts: [],
      excluded: new Set(workerId ? [workerId] : []),
      assigned: null,
      queuedAt: this.now(),
      openedAt: this.now(),
    };
    this.audits.set(audit.id, audit);
    this.queue.push(audit);
    return audit;
  }

  /** Who sends the transcript over the mesh: the worker itself, or for a planted one another tab (never the verifier). */
  private sender(audit: Audit, verifier: Tab): Tab | null {
    const { registry, random } = this.options;
    if (audit.planted) return pickCourier(registry.ready(), verifier, random);
    const { worker } = audit;
    return worker && registry.get(worker.id) === worker && worker.peerId ? worker : null;
  }

  private assign(audit: Audit, verifier: Tab): void {
    this.busy.add(verifier);
    // Whoever is given a transcript, or a copy of one, knows it from now on.
    if (!audit.planted) this.sources.seen(audit.model, audit.parts.task.jobId, verifier.contributorId as string);
    else audit.source?.seenBy.add(verifier.contributorId as string);
    const sender = verifier.peerId ? this.sender(audit, verifier) : null;
    const timer = setTimeout(() => {
      this.log(`${verifier.id}: no verdict on audit ${audit.id} within ${this.options.verdictTimeoutMs} ms; passed over`);
      this.passOver(audit);
    }, this.options.verdictTimeoutMs);
    timer.unref?.();
    audit.assigned = { verifier, sender, inline: false, timer };
    if (!sender?.peerId || !verifier.peerId) return this.deliverInline(audit, 'no mesh path from the worker to the verifier');
    verifier.link.send({ type: 'audit', auditId: audit.id, model: audit.model, transcriptSha256: audit.sha256, tolerances: this.options.tolerances, timeoutMs: this.options.verdictTimeoutMs, from: sender.peerId });
    sender.link.send({ type: 'share', auditId: audit.id, jobId: audit.parts.task.jobId, to: verifier.peerId, ...(audit.planted ? { transcript: this.payload(audit) } : {}) });
  }

  /** Sends the coordinator's own copy of the transcript to the assigned verifier. */
  private deliverInline(audit: Audit, why: string): void {
    if (!audit.assigned) return;
    const transcript = this.payload(audit);
    if (transcript.length > MAX_TAB_MESSAGE_CHARS - 2000) {
      this.log(`audit ${audit.id}: ${why}, and the transcript is too large to send inline; unverified`);
      this.release(audit);
      return this.close(audit, 'unverified');
    }
    audit.assigned.inline = true;
    audit.assigned.sender = null;
    audit.assigned.verifier.link.send({ type: 'audit', auditId: audit.id, model: audit.model, transcriptSha256: audit.sha256, tolerances: this.options.tolerances, timeoutMs: this.options.verdictTimeoutMs, transcript });
  }

  private payload(audit: Audit): string {
    return JSON.stringify(auditTranscriptOf(audit.id, audit.parts.task, audit.parts.tokens, audit.parts.end));
  }

  /** The assigned verifier gave no usable verdict: another one gets the audit, which queues afresh. */
  private passOver(audit: Audit, pumpNow = true): void {
    const verifier = audit.assigned?.verifier;
    if (verifier && this.strikes.strike(verifier, this.now())) this.log(`${verifier.id}: no usable answer to ${MAX_STRIKES} audits in a row; no audits for it for ${STRIKE_PAUSE_MS / 60_000} min`);
    this.release(audit);
    if (verifier?.contributorId) audit.excluded.add(verifier.contributorId);
    audit.queuedAt = this.now();
    this.queue.push(audit);
    if (pumpNow) this.pump();
  }

  private release(audit: Audit): void {
    if (!audit.assigned) return;
    clearTimeout(audit.assigned.timer);
    this.busy.delete(audit.assigned.verifier);
    audit.assigned = null;
  }

  private close(audit: Audit, status: 'passed' | 'convicted' | 'unverified'): void {
    this.forget(audit);
    if (audit.planted) return this.options.book.plantedExpired();
    const open = (this.openByWorker.get(audit.workerId) ?? 1) - 1;
    if (open > 0) this.openByWorker.set(audit.workerId, open);
    else this.openByWorker.delete(audit.workerId);
    const jobId = audit.parts.task.jobId;
    this.options.book.decided(jobId, status);
    this.options.listener?.decided({ jobId, workerId: audit.workerId, status, convictedBy: status === 'convicted' ? this.options.book.failingVerifiers(jobId) : [] });
    this.log(`audit of ${audit.parts.task.jobId} (contributor ${audit.workerId}): ${status} after ${audit.verdicts.length} verdict(s)`);
  }
}
