import { describe, expect, it } from 'vitest';
import { afterAudit, auditProbability, DEFAULT_AUDIT_POLICY, expectedAuditShare, NEW_IDENTITY, shouldAudit, type AuditPolicy } from './audit-policy.ts';

const policy: AuditPolicy = { probation: 5, pMin: 0.1 };

describe('audit policy', () => {
  it('audits every job of a new identity until it has passed `probation` audits in a row', () => {
    let record = NEW_IDENTITY;
    for (let i = 0; i < policy.probation; i++) {
      expect(auditProbability(record, policy)).toBe(1);
      expect(shouldAudit(record, policy, 0.999999)).toBe(true);
      record = afterAudit(record, true);
    }
    expect(auditProbability(record, policy)).toBe(1 / policy.probation);
  });

  it('then audits with probability max(pMin, 1 / consecutive passes)', () => {
    expect(auditProbability({ consecutivePasses: 8 }, policy)).toBe(1 / 8);
    expect(auditProbability({ consecutivePasses: 10 }, policy)).toBe(0.1);
    expect(auditProbability({ consecutivePasses: 1000 }, policy)).toBe(policy.pMin);
    expect(shouldAudit({ consecutivePasses: 8 }, policy, 0.124)).toBe(true);
    expect(shouldAudit({ consecutivePasses: 8 }, policy, 0.126)).toBe(false);
  });

  it('starts over after a failure', () => {
    expect(afterAudit({ consecutivePasses: 500 }, false)).toEqual(NEW_IDENTITY);
    expect(auditProbability(afterAudit({ consecutivePasses: 500 }, false), policy)).toBe(1);
  });

  it('costs an honest long-lived identity little more than pMin of its jobs', () => {
    const share = expectedAuditShare(DEFAULT_AUDIT_POLICY, 10_000);
    expect(share).toBeGreaterThan(DEFAULT_AUDIT_POLICY.pMin);
    expect(share).toBeLessThan(DEFAULT_AUDIT_POLICY.pMin * 1.2);
    // A short-lived identity pays for its probation.
    expect(expectedAuditShare(DEFAULT_AUDIT_POLICY, 20)).toBeGreaterThan(0.5);
  });
});
