import { describe, expect, it } from 'vitest';
import { AuditBook } from './audit-book.ts';
import { DEFAULT_AUDIT_POLICY } from './audit-policy.ts';

let jobs = 0;
function audit(book: AuditBook, contributorId: string, status: 'passed' | 'convicted' | 'unverified' | null) {
  const jobId = `job-${jobs++}`;
  book.opened({ jobId, model: 'm', contributorId, transcriptSha256: 'ab' });
  if (status) book.decided(jobId, status);
}

describe('AuditBook.ranked and decidedTotals', () => {
  it('ranks by reputation, then audits passed, then id, and gives each worker record', () => {
    const book = new AuditBook(DEFAULT_AUDIT_POLICY, () => new Date(1_000_000));
    for (let i = 0; i < 3; i++) audit(book, 'good', 'passed');
    audit(book, 'bad', 'passed');
    audit(book, 'bad', 'convicted');
    audit(book, 'new-b', null);
    audit(book, 'new-a', 'unverified');
    const ranked = book.ranked(10);
    expect(ranked.map((r) => r.contributorId)).toEqual(['good', 'new-a', 'new-b', 'bad']);
    expect(ranked[0]).toEqual({ contributorId: 'good', reputation: book.reputation('good'), audited: 3, passed: 3, convicted: 0 });
    expect(ranked[0]?.reputation).toBeGreaterThan(0.5);
    expect(ranked[3]).toMatchObject({ contributorId: 'bad', audited: 2, passed: 1, convicted: 1 });
    expect(ranked[3]?.reputation).toBeLessThan(0.5);
    expect(book.ranked(2).map((r) => r.contributorId)).toEqual(['good', 'new-a']);
    expect(book.ranked(0)).toEqual([]);
  });

  it('sums audits passed and convictions over every identity, not only the audits still kept', () => {
    const book = new AuditBook();
    expect(book.decidedTotals()).toEqual({ passed: 0, convicted: 0 });
    audit(book, 'a', 'passed');
    audit(book, 'a', 'passed');
    audit(book, 'b', 'convicted');
    audit(book, 'b', 'unverified');
    audit(book, 'c', null);
    expect(book.decidedTotals()).toEqual({ passed: 2, convicted: 1 });
  });
});
