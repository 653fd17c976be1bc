/**
 * The coordinator's memory of audits (issue #4): every job audit with its signed verdicts, and each contributor
 * identity's record as a worker (what sets its audit rate, and its reputation) and as a verifier (dissents, planted
 * transcripts). The working copy is in memory (bounded); with `persist` every identity change and every decided
 * audit is written through to the store, and `restore` brings them back on start (issue #5), so audit rates,
 * verifier trust and reputation survive a restart.
 */
import type { AuditStatus, AuditSummary, ContributorTrust, JobAudit, VerdictRecord } from '../../src/protocol/audits.ts';
import type { ContributorRank } from '../../src/protocol/network.ts';
import { auditProbability, DEFAULT_AUDIT_POLICY, NEW_IDENTITY, afterAudit, type AuditPolicy, type AuditRecord } from './audit-policy.ts';
import type { PlantKind } from './audit-decision.ts';
import { afterAudit as reputationAfter, DEFAULT_REPUTATION_HALF_LIFE_MS, NEW_REPUTATION, reputationScore, type ReputationState } from '../ledger/reputation.ts';

/** Job audits kept (the oldest decided ones are forgotten first). */
const MAX_JOB_AUDITS = 10_000;
const RECENT = 20;

interface Identity {
  /** Counts every change, so the store keeps the newest whatever order saves land in. */
  version: number;
  record: AuditRecord;
  reputation: ReputationState;
  audited: number;
  passed: number;
  convicted: number;
  verdicts: number;
  dissents: number;
  /** Approvals of jobs whose audit passed: a verifier that rejects everything has none. */
  confirmedPasses: number;
  /** Planted known-bad transcripts rejected (as they should be) and approved. */
  plantedRejected: number;
  plantedApproved: number;
  /** Planted known-good transcripts approved (as they should be) and rejected. */
  goodApproved: number;
  goodRejected: number;
}

/** Where the book writes through (the store's TrustStore, serialised); calls must not throw. */
export interface AuditPersistence {
  identity(contributorId: string, serialised: string, version: number): void;
  decided(audit: JobAudit): void;
}

export interface AuditBookOptions {
  reputationHalfLifeMs?: number;
  persist?: AuditPersistence;
  /** What an earlier run persisted: identities as serialised, decided audits oldest first. */
  restore?: { identities: ReadonlyArray<{ contributorId: string; record: string }>; audits: readonly JobAudit[] };
}

const newIdentity = (): Identity => ({ version: 0, record: NEW_IDENTITY, reputation: NEW_REPUTATION, audited: 0, passed: 0, convicted: 0, verdicts: 0, dissents: 0, confirmedPasses: 0, plantedRejected: 0, plantedApproved: 0, goodApproved: 0, goodRejected: 0 });

export class AuditBook {
  private readonly jobs = new Map<string, JobAudit>();
  private readonly identities = new Map<string, Identity>();
  private readonly planted = { sent: 0, rejected: 0, approved: 0, goodApproved: 0, goodRejected: 0, open: 0 };
  private readonly halfLifeMs: number;

  constructor(
    private readonly policy: AuditPolicy = DEFAULT_AUDIT_POLICY,
    private readonly now: () => Date = () => new Date(),
    private readonly options: AuditBookOptions = {},
  ) {
    this.halfLifeMs = options.reputationHalfLifeMs ?? DEFAULT_REPUTATION_HALF_LIFE_MS;
    for (const { contributorId, record } of options.restore?.identities ?? []) this.identities.set(contributorId, { ...newIdentity(), ...(JSON.parse(record) as Partial<Identity>) });
    for (const audit of options.restore?.audits ?? []) this.jobs.set(audit.jobId, structuredClone(audit));
  }

  /** The chance that the identity's next job is audited (O(1): the scheduler asks for every candidate tab). */
  auditProbability(contributorId: string): number {
    return auditProbability(this.identities.get(contributorId)?.record ?? NEW_IDENTITY, this.policy);
  }

  /** The identity's reputation in [0, 1] (reputation.ts): 0.5 for a newcomer. */
  reputation(contributorId: string): number {
    return reputationScore(this.identities.get(contributorId)?.reputation ?? NEW_REPUTATION, this.now().getTime(), this.halfLifeMs);
  }

  /** The worker record that sets the identity's audit rate. */
  record(contributorId: string): AuditRecord {
    return this.identity(contributorId).record;
  }

  /** A finished job was chosen for audit. */
  opened(audit: Pick<JobAudit, 'jobId' | 'model' | 'contributorId' | 'transcriptSha256'>): void {
    this.jobs.set(audit.jobId, { ...audit, status: 'pending', verdicts: [], requestedAt: this.now().toISOString(), decidedAt: null });
    this.identity(audit.contributorId).audited++;
    this.saved(audit.contributorId);
    if (this.jobs.size > MAX_JOB_AUDITS) {
      // Insertion order is age: the first decided audit is the oldest.
      for (const audit of this.jobs.values()) {
        if (audit.status === 'pending') continue;
        this.jobs.delete(audit.jobId);
        break;
      }
    }
  }

  /** A verifier's signed verdict on a job's audit. */
  verdict(jobId: string, record: VerdictRecord): void {
    this.jobs.get(jobId)?.verdicts.push(record);
    this.identity(record.verifier).verdicts++;
    this.saved(record.verifier);
  }

  /**
   * The audit is decided. A pass or conviction moves the worker's record; verifiers who said otherwise get a
   * dissent. `unverified` (no verifier could judge it in time) moves nothing.
   */
  decided(jobId: string, status: Exclude<AuditStatus, 'pending'>): void {
    const audit = this.jobs.get(jobId);
    if (!audit || audit.status !== 'pending') return;
    audit.status = status;
    audit.decidedAt = this.now().toISOString();
    const worker = this.identity(audit.contributorId);
    this.options.persist?.decided(structuredClone(audit));
    if (status === 'unverified') {
      // Undecided after a failing verdict is no clean record: the identity stays on (or goes back to) probation.
      if (audit.verdicts.some((v) => !v.verdict.ok && this.trustedVerifier(v.verifier))) worker.record = NEW_IDENTITY;
      return this.saved(audit.contributorId);
    }
    const passed = status === 'passed';
    worker.record = afterAudit(worker.record, passed);
    worker.reputation = reputationAfter(worker.reputation, status, this.now().getTime(), this.halfLifeMs);
    if (passed) worker.passed++;
    else worker.convicted++;
    this.saved(audit.contributorId);
    for (const v of audit.verdicts) {
      const verifier = this.identity(v.verifier);
      if (v.verdict.ok !== passed) verifier.dissents++;
      else if (passed) verifier.confirmedPasses++;
      else continue;
      this.saved(v.verifier);
    }
  }

  /**
   * The verifiers a conviction of the job rewards: those whose failing verdicts count, who are proven (rejected a
   * planted known-bad transcript), fair (approved a planted known-good one) and have approved jobs whose audits
   * passed. Any other failing verdict counts
   * towards the decision but earns nothing, so identities that reject whatever they get (and so reject planted
   * known-bad transcripts too) cannot profit from convicting honest workers; nor can they convict (audit-decision.ts:
   * only fair verifiers' failures do, and they reject planted known-good transcripts).
   */
  failingVerifiers(jobId: string): string[] {
    const rewarded = (id: string) => this.provenVerifier(id) && this.fairVerifier(id) && (this.identities.get(id)?.confirmedPasses ?? 0) > 0;
    return [...new Set((this.jobs.get(jobId)?.verdicts ?? []).filter((v) => !v.verdict.ok && rewarded(v.verifier)).map((v) => v.verifier))];
  }

  plantedSent(): void {
    this.planted.sent++;
    this.planted.open++;
  }

  /** A planted transcript no verifier judged in time. */
  plantedExpired(): void {
    this.planted.open--;
  }

  /** A verifier's verdict on a planted transcript, known-bad (it should reject) or known-good (it should approve). */
  plantedJudged(verifier: string, approved: boolean, kind: PlantKind): void {
    const identity = this.identity(verifier);
    identity.verdicts++;
    this.planted.open--;
    if (kind === 'known-good') {
      if (approved) identity.goodApproved++;
      else identity.goodRejected++;
      this.planted[approved ? 'goodApproved' : 'goodRejected']++;
    } else if (approved) {
      identity.plantedApproved++;
      this.planted.approved++;
    } else {
      identity.plantedRejected++;
      this.planted.rejected++;
    }
    this.saved(verifier);
  }

  /**
   * Whether this identity may verify: never again once it approved a planted known-bad transcript, rejected a
   * planted known-good one, or was convicted as a worker.
   */
  trustedVerifier(contributorId: string): boolean {
    const identity = this.identities.get(contributorId);
    return !identity || (identity.plantedApproved === 0 && identity.goodRejected === 0 && identity.convicted === 0);
  }

  /** Whether this identity has shown it checks: it rejected a planted known-bad transcript (and is still trusted). */
  provenVerifier(contributorId: string): boolean {
    return this.trustedVerifier(contributorId) && this.plantedRejectedBy(contributorId) > 0;
  }

  /** Whether this identity has shown it does not reject blindly: it approved a planted known-good transcript (and is still trusted). */
  fairVerifier(contributorId: string): boolean {
    return this.trustedVerifier(contributorId) && (this.identities.get(contributorId)?.goodApproved ?? 0) > 0;
  }

  plantedRejectedBy(contributorId: string): number {
    return this.identities.get(contributorId)?.plantedRejected ?? 0;
  }

  /** Whether this identity was ever convicted as a worker. */
  convictedWorker(contributorId: string): boolean {
    return (this.identities.get(contributorId)?.convicted ?? 0) > 0;
  }

  goodApprovedBy(contributorId: string): number {
    return this.identities.get(contributorId)?.goodApproved ?? 0;
  }

  /** Whether the job's audit is under way. */
  auditOpen(jobId: string): boolean {
    return this.jobs.get(jobId)?.status === 'pending';
  }

  job(jobId: string): JobAudit | undefined {
    const audit = this.jobs.get(jobId);
    return audit && structuredClone(audit);
  }

  /** The identity's record; undefined when it never served or verified (with `orNew`, a newcomer's record). */
  contributor(contributorId: string, orNew: true): ContributorTrust;
  contributor(contributorId: string, orNew?: false): ContributorTrust | undefined;
  contributor(contributorId: string, orNew = false): ContributorTrust | undefined {
    const i = this.identities.get(contributorId) ?? (orNew ? newIdentity() : undefined);
    if (!i) return undefined;
    const pending = [...this.jobs.values()].filter((a) => a.contributorId === contributorId && a.status === 'pending').length;
    return {
      contributorId,
      reputation: this.reputation(contributorId),
      worker: { audited: i.audited, passed: i.passed, convicted: i.convicted, pending, consecutivePasses: i.record.consecutivePasses, auditProbability: auditProbability(i.record, this.policy) },
      verifier: { verdicts: i.verdicts, dissents: i.dissents, confirmedPasses: i.confirmedPasses, plantedRejected: i.plantedRejected, plantedApproved: i.plantedApproved, goodApproved: i.goodApproved, goodRejected: i.goodRejected, trusted: this.trustedVerifier(contributorId) },
    };
  }

  /**
   * Counts and the latest decided audits. Nothing about audits under way is published (no pending count, no
   * planted transcripts sent): a verifier watching the API must not be able to tell a planted transcript from a
   * real job's.
   */
  summary(): AuditSummary {
    const audits = { passed: 0, convicted: 0, unverified: 0 };
    for (const a of this.jobs.values()) if (a.status !== 'pending') audits[a.status]++;
    const decided = [...this.jobs.values()].filter((a) => a.status !== 'pending');
    const recent = decided.slice(-RECENT).reverse().map((a) => structuredClone(a));
    const { rejected, approved, goodApproved, goodRejected } = this.planted;
    return { audits, planted: { rejected, approved }, plantedGood: { approved: goodApproved, rejected: goodRejected }, recent };
  }

  /**
   * The identities with the highest reputation, at most `limit` (ties: more audits passed, then id), with their
   * record as workers. O(n log n) over the identities known.
   */
  ranked(limit: number): ContributorRank[] {
    const at = this.now().getTime();
    const all = [...this.identities].map(([contributorId, i]) => ({ contributorId, reputation: reputationScore(i.reputation, at, this.halfLifeMs), audited: i.audited, passed: i.passed, convicted: i.convicted }));
    all.sort((a, b) => b.reputation - a.reputation || b.passed - a.passed || (a.contributorId < b.contributorId ? -1 : a.contributorId > b.contributorId ? 1 : 0));
    return all.slice(0, Math.max(0, limit));
  }

  /** Audits passed and convictions of all time, summed over the identities' records (which survive restarts). */
  decidedTotals(): { passed: number; convicted: number } {
    const totals = { passed: 0, convicted: 0 };
    for (const i of this.identities.values()) {
      totals.passed += i.passed;
      totals.convicted += i.convicted;
    }
    return totals;
  }

  private identity(contributorId: string): Identity {
    let identity = this.identities.get(contributorId);
    if (!identity) {
      identity = newIdentity();
      this.identities.set(contributorId, identity);
    }
    return identity;
  }

  private saved(contributorId: string): void {
    const identity = this.identities.get(contributorId);
    if (!identity) return;
    identity.version++;
    this.options.persist?.identity(contributorId, JSON.stringify(identity), identity.version);
  }
}
