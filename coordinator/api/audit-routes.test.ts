import { describe, expect, it } from 'vitest';
import { auditRoutes } from './audit-routes.ts';
import { AuditBook } from '../trust/audit-book.ts';
import type { AuditSummary, JobAudit } from '../../src/protocol/audits.ts';
import type { ErrorBody } from '../../src/protocol/api.ts';
import { Hono } from 'hono';
import { toApiError } from './errors.ts';

const WORKER = 'a'.repeat(40);
const VERIFIER = 'b'.repeat(40);
const PASS = { ok: true, firstFailure: null, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 2e-6 };

function app(book: AuditBook) {
  const app = new Hono();
  app.route('/api', auditRoutes(book));
  app.onError((error, c) => {
    const apiError = toApiError(error);
    return c.json(apiError.toBody(), apiError.status);
  });
  return app;
}

describe('audit API', () => {
  const book = new AuditBook({ probation: 10, pMin: 0.05 }, () => new Date('2026-11-28T12:00:00Z'));
  book.opened({ jobId: 'job-1', model: 'dolphin-tiny', contributorId: WORKER, transcriptSha256: 'c'.repeat(64) });
  book.verdict('job-1', { auditId: 'audit-1', verifier: VERIFIER, publicKey: 'key', backend: 'webgpu', verdict: PASS, signature: 'sig', at: '2026-11-28T12:00:01Z' });
  book.decided('job-1', 'passed');
  book.opened({ jobId: 'job-2', model: 'dolphin-tiny', contributorId: WORKER, transcriptSha256: 'd'.repeat(64) });

  it("shows a job's audit with its signed verdicts", async () => {
    const response = await app(book).request('/api/audits/jobs/job-1');
    expect(response.status).toBe(200);
    expect((await response.json()) as JobAudit).toEqual({
      jobId: 'job-1',
      model: 'dolphin-tiny',
      contributorId: WORKER,
      status: 'passed',
      transcriptSha256: 'c'.repeat(64),
      verdicts: [{ auditId: 'audit-1', verifier: VERIFIER, publicKey: 'key', backend: 'webgpu', verdict: PASS, signature: 'sig', at: '2026-11-28T12:00:01Z' }],
      requestedAt: '2026-11-28T12:00:00.000Z',
      decidedAt: '2026-11-28T12:00:00.000Z',
    });
  });

  it('sums up decided audits only, newest first, and publishes nothing about audits or planted transcripts under way', async () => {
    const before = await (await app(book).request('/api/audits')).text();
    book.plantedSent();
    book.opened({ jobId: 'job-3', model: 'dolphin-tiny', contributorId: WORKER, transcriptSha256: 'e'.repeat(64) });
    expect(await (await app(book).request('/api/audits')).text()).toBe(before);
    const summary = JSON.parse(before) as AuditSummary;
    expect(summary.audits).toEqual({ passed: 1, convicted: 0, unverified: 0 });
    expect(summary.recent.map((a) => a.jobId)).toEqual(['job-1']);
    book.plantedJudged(VERIFIER, false, 'known-bad');
    expect(((await (await app(book).request('/api/audits')).json()) as AuditSummary).planted).toEqual({ rejected: 1, approved: 0 });
  });

  it('answers unknown jobs and audits still under way with a 404 in the API error shape', async () => {
    for (const [path, code] of [['/api/audits/jobs/nope', 'audit_not_found'], ['/api/audits/jobs/job-2', 'audit_not_found']] as const) {
      const response = await app(book).request(path);
      expect(response.status).toBe(404);
      expect(((await response.json()) as ErrorBody).error).toMatchObject({ type: 'invalid_request_error', code });
    }
  });
});
