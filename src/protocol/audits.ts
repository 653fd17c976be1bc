/**
 * The audit API (`/api/audits`, `/api/contributors/:id`): what the coordinator tells anyone about audits of jobs and
 * the record of each contributor identity, as workers and as verifiers (issue #4). Responses only; errors use the
 * API's one error shape (src/protocol/api.ts).
 */
import type { Backend, Verdict } from './tab.ts';

export type AuditStatus = 'pending' | 'passed' | 'convicted' | 'unverified';

/**
 * One verifier's signed verdict. Anyone can check it: the signature is by `publicKey` (base64url Ed25519) over
 * VERDICT_CONTEXT + SHA-256(verdictStatementOf(auditId, the job's transcriptSha256, verdict)), identity.ts.
 */
export interface VerdictRecord {
  auditId: string;
  /** The verifier's contributor id (derived from `publicKey`). */
  verifier: string;
  publicKey: string;
  backend: Backend | null;
  verdict: Verdict;
  signature: string;
  at: string;
}

export interface JobAudit {
  jobId: string;
  model: string;
  /** The worker: the identity that served and signed the job. */
  contributorId: string;
  status: AuditStatus;
  /** SHA-256 of the job's canonical transcript, which the worker signed and the verifiers judged. */
  transcriptSha256: string;
  verdicts: VerdictRecord[];
  requestedAt: string;
  decidedAt: string | null;
}

export interface ContributorTrust {
  contributorId: string;
  /** In [0, 1], from its audits as a worker with decay (passes raise it, a conviction weighs ten); 0.5 for a newcomer. */
  reputation: number;
  worker: {
    audited: number;
    passed: number;
    convicted: number;
    pending: number;
    /** Audits passed since the last conviction; the audit rate falls as it grows (audit-policy.ts). */
    consecutivePasses: number;
    /** The chance that this identity's next job is audited. */
    auditProbability: number;
  };
  verifier: {
    verdicts: number;
    /** Verdicts that went against the audit's final decision. */
    dissents: number;
    /** Approvals of jobs whose audit passed (a verifier that rejects everything has none). */
    confirmedPasses: number;
    /** Known-bad transcripts the coordinator planted, rejected as they should be, or approved. */
    plantedRejected: number;
    plantedApproved: number;
    /** Known-good transcripts the coordinator planted (copies of passed jobs), approved as they should be, or rejected. */
    goodApproved: number;
    goodRejected: number;
    /**
     * False once this identity approved a planted known-bad transcript, rejected a planted known-good one, or was
     * convicted as a worker: it judges no more audits.
     */
    trusted: boolean;
  };
}

export interface AuditSummary {
  /** Decided audits kept (audits under way are not published, see audit-book.ts). */
  audits: Record<Exclude<AuditStatus, 'pending'>, number>;
  /** Verdicts on planted known-bad transcripts. */
  planted: { rejected: number; approved: number };
  /** Verdicts on planted known-good transcripts. */
  plantedGood: { approved: number; rejected: number };
  /** The latest job audits, newest first. */
  recent: JobAudit[];
}
