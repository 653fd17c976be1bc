/**
 * Which finished jobs get audited (issue #4; design.md, "Audit rate"): BOINC-style adaptive replication per
 * contributor identity. A new identity is audited on every job until it has `probation` consecutive passes; after
 * that a job is audited with probability max(pMin, 1 / consecutivePasses). Any failed audit starts it over.
 * Pure: the random draw is passed in.
 */

export interface AuditPolicy {
  /** Consecutive passes before an identity leaves probation. */
  probation: number;
  /** The lowest audit probability, however long the record. */
  pMin: number;
}

export const DEFAULT_AUDIT_POLICY: AuditPolicy = { probation: 10, pMin: 0.05 };

export interface AuditRecord {
  /** Audits passed since the last failure (or since the identity appeared). */
  consecutivePasses: number;
}

export const NEW_IDENTITY: AuditRecord = { consecutivePasses: 0 };

/** The probability that the identity's next finished job is audited. */
export function auditProbability(record: AuditRecord, policy: AuditPolicy): number {
  if (record.consecutivePasses < Math.max(1, policy.probation)) return 1;
  return Math.max(policy.pMin, 1 / record.consecutivePasses);
}

/** Whether to audit a job, given a uniform draw in [0, 1). */
export function shouldAudit(record: AuditRecord, policy: AuditPolicy, draw: number): boolean {
  return draw < auditProbability(record, policy);
}

/** The record after an audit's outcome. */
export function afterAudit(record: AuditRecord, passed: boolean): AuditRecord {
  return { consecutivePasses: passed ? record.consecutivePasses + 1 : 0 };
}

/**
 * The long-run share of an identity's jobs that get audited when it always passes, over its first `jobs` jobs
 * (expected value): what network-wide verification costs, in jobs re-scored per job served.
 */
export function expectedAuditShare(policy: AuditPolicy, jobs: number): number {
  let record = NEW_IDENTITY;
  let audits = 0;
  for (let i = 0; i < jobs; i++) {
    const p = auditProbability(record, policy);
    audits += p;
    // In expectation an audited honest job adds a pass; approximate the record by its expected passes.
    record = { consecutivePasses: record.consecutivePasses + p };
  }
  return audits / jobs;
}
