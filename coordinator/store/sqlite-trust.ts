/** Audit records on SQLite (issue #5): each identity's record and decided audits, as the audit book serialises them. */
import type Database from 'better-sqlite3';
import type { TrustStore } from '../ledger/economy-store.ts';

export function sqliteTrust(db: Database.Database, now: () => Date): TrustStore {
  const allIdentities = db.prepare<[], { contributorId: string; record: string }>('SELECT id AS contributorId, record FROM identities');
  const upsertIdentity = db.prepare<[string, string, number, string]>(
    'INSERT INTO identities (id, record, version, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record, version = excluded.version, updated_at = excluded.updated_at WHERE excluded.version > identities.version',
  );
  const upsertAudit = db.prepare<[string, string, string, string, string]>(
    'INSERT INTO audits (job_id, contributor_id, status, body, decided_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, body = excluded.body, decided_at = excluded.decided_at',
  );
  const auditOf = db.prepare<[string], { body: string }>('SELECT body FROM audits WHERE job_id = ?');
  const recent = db.prepare<[number], { body: string }>('SELECT body FROM audits ORDER BY seq DESC LIMIT ?');
  const counts = db.prepare<[], { status: string; n: number }>('SELECT status, COUNT(*) AS n FROM audits GROUP BY status');

  return {
    identities: async () => allIdentities.all(),
    saveIdentity: async (contributorId, record, version) => void upsertIdentity.run(contributorId, record, version, now().toISOString()),
    saveAudit: async (a) => void upsertAudit.run(a.jobId, a.contributorId, a.status, a.body, a.decidedAt),
    audit: async (jobId) => auditOf.get(jobId)?.body ?? null,
    recentAudits: async (limit) => ({ recent: recent.all(limit).map((r) => r.body), counts: Object.fromEntries(counts.all().map((r) => [r.status, r.n])) }),
  };
}
