/**
 * The audit API (issue #4; shapes in src/protocol/audits.ts): `GET /api/audits` (counts and the latest decided
 * audits), `GET /api/audits/jobs/:jobId` (one job's decided audit with its signed verdicts). An identity's record is served
 * with its DPHN by contributor-routes.ts. Unknown ids get a 404 in the API's error shape.
 */
import { Hono } from 'hono';
import { ApiError } from './errors.ts';
import type { AuditBook } from '../trust/audit-book.ts';

export function auditRoutes(book: AuditBook): Hono {
  const routes = new Hono();
  routes.get('/audits', (c) => c.json(book.summary()));
  routes.get('/audits/jobs/:jobId', (c) => {
    // Pending audits stay unpublished, so a verifier cannot tell a real job's transcript from a planted one.
    const audit = book.job(c.req.param('jobId'));
    if (!audit || audit.status === 'pending') throw new ApiError(404, 'invalid_request_error', `No decided audit of job '${c.req.param('jobId')}': it was not audited, its audit is still under way, or it is unknown.`, 'audit_not_found', 'jobId');
    return c.json(audit);
  });
  return routes;
}
