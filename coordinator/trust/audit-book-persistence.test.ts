/**
 * The audit book's write-through (`persist`) and start-up (`restore`): every identity change is written, and a book
 * restored from what was written — through a recording stand-in and through the SQLite TrustStore as main.ts wires
 * it — knows the same records, audit rates, verifier trust, reputation and decided audits. Also reputation over
 * time, and which failing verifiers count.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AuditBook, type AuditBookOptions, type AuditPersistence } from './audit-book.ts';
import type { AuditPolicy } from './audit-policy.ts';
import { FAILURE_WEIGHT } from '../ledger/reputation.ts';
import type { Store } from '../ledger/economy-store.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { JobAudit, VerdictRecord } from '../../src/protocol/audits.ts';
import type { Verdict } from '../../src/protocol/tab.ts';

const MODEL = 'dolphin-tiny';
const POLICY: AuditPolicy = { probation: 3, pMin: 0.05 };
const HALF_LIFE = 3_600_000;
const T0 = Date.UTC(2025, 0, 1);
const PASS: Verdict = { ok: true, firstFailure: null, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 1e-6 };
const FAIL: Verdict = { ok: false, firstFailure: { position: 2, reason: 'logprob_mismatch' }, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 0.7 };

let clock = T0;
const now = () => new Date(clock);
let jobs = 0;

type Call = { type: 'identity'; contributorId: string; record: Record<string, unknown> } | { type: 'decided'; audit: JobAudit };

/** A persistence that records every call and keeps what a store would: the latest record per identity, decided audits in order. */
function recorder() {
  const calls: Call[] = [];
  const identities = new Map<string, string>();
  const audits = new Map<string, JobAudit>();
  const persist: AuditPersistence = {
    identity: (contributorId, serialised) => {
      calls.push({ type: 'identity', contributorId, record: JSON.parse(serialised) as Record<string, unknown> });
      identities.set(contributorId, serialised);
    },
    decided: (audit) => {
      calls.push({ type: 'decided', audit });
      audits.set(audit.jobId, structuredClone(audit));
    },
  };
  const restore = (): NonNullable<AuditBookOptions['restore']> => ({
    identities: [...identities].map(([contributorId, record]) => ({ contributorId, record })),
    audits: [...audits.values()],
  });
  return { calls, persist, restore, take: () => calls.splice(0) };
}

const newBook = (options: AuditBookOptions = {}) => new AuditBook(POLICY, now, { reputationHalfLifeMs: HALF_LIFE, ...options });

function verdict(verifier: string, ok: boolean): VerdictRecord {
  return { auditId: `audit-${++jobs}`, verifier, publicKey: `pk-${verifier}`, backend: 'wasm', verdict: ok ? PASS : FAIL, signature: 'sig', at: now().toISOString() };
}

/** Opens an audit of a new job by `worker`, records the verdicts (verifier, ok) and decides it with `status`. */
function audited(book: AuditBook, worker: string, verdicts: Array<[string, boolean]>, status: 'passed' | 'convicted' | 'unverified' | null): string {
  const jobId = `job-${++jobs}`;
  book.opened({ jobId, model: MODEL, contributorId: worker, transcriptSha256: 'ab'.repeat(32) });
  for (const [verifier, ok] of verdicts) book.verdict(jobId, verdict(verifier, ok));
  if (status) book.decided(jobId, status);
  return jobId;
}

function planted(book: AuditBook, verifier: string, approved: boolean, kind: 'known-bad' | 'known-good' = 'known-bad') {
  book.plantedSent();
  book.plantedJudged(verifier, approved, kind);
}

/**
 * A history with every kind of identity: a worker past probation, a convicted one, proven, fair, lazy, harsh (rejects
 * known-good transcripts) and dissenting verifiers.
 */
function history(book: AuditBook) {
  planted(book, 'proven', false);
  planted(book, 'proven', true, 'known-good');
  planted(book, 'checker', true, 'known-good');
  planted(book, 'lazy', true);
  planted(book, 'harsh', false, 'known-good');
  const jobIds: string[] = [];
  for (let i = 0; i < 4; i++) {
    clock += 60_000;
    jobIds.push(audited(book, 'steady', [['proven', true]], 'passed'));
  }
  clock += 60_000;
  jobIds.push(audited(book, 'cheat', [['proven', false], ['dissenter', true], ['checker', false]], 'convicted'));
  clock += 60_000;
  jobIds.push(audited(book, 'newbie', [['proven', false]], 'unverified'));
  clock += 60_000;
  jobIds.push(audited(book, 'newbie', [['lazy', true], ['proven', true]], 'passed'));
  return { jobIds, ids: ['steady', 'cheat', 'newbie', 'proven', 'lazy', 'harsh', 'dissenter', 'checker'] };
}

/** Everything a restored book must agree on, for these identities and jobs. */
function snapshot(book: AuditBook, ids: string[], jobIds: string[]) {
  return {
    contributors: ids.map((id) => book.contributor(id)),
    records: ids.map((id) => book.record(id)),
    reputations: ids.map((id) => book.reputation(id)),
    trusted: ids.map((id) => book.trustedVerifier(id)),
    proven: ids.map((id) => book.provenVerifier(id)),
    fair: ids.map((id) => book.fairVerifier(id)),
    plantedRejected: ids.map((id) => book.plantedRejectedBy(id)),
    jobs: jobIds.map((id) => book.job(id)),
    failing: jobIds.map((id) => book.failingVerifiers(id)),
    open: jobIds.map((id) => book.auditOpen(id)),
    stranger: book.contributor('stranger'),
    summaryAudits: book.summary().audits,
    recent: book.summary().recent,
  };
}

afterEach(() => {
  clock = T0;
});

describe('AuditBook persistence', () => {
  it('writes every identity change: opened, verdict, decided (with dissenters) and plantedJudged', () => {
    const rec = recorder();
    const book = newBook({ persist: rec.persist });

    book.opened({ jobId: 'job-a', model: MODEL, contributorId: 'worker', transcriptSha256: 'ab'.repeat(32) });
    expect(rec.take()).toEqual([{ type: 'identity', contributorId: 'worker', record: expect.objectContaining({ audited: 1, record: { consecutivePasses: 0 } }) }]);

    book.verdict('job-a', verdict('v1', false));
    expect(rec.take()).toEqual([{ type: 'identity', contributorId: 'v1', record: expect.objectContaining({ verdicts: 1, dissents: 0 }) }]);
    book.verdict('job-a', verdict('v2', true));
    book.verdict('job-a', verdict('v3', true));
    rec.take();

    clock += 1000;
    book.decided('job-a', 'passed');
    const calls = rec.take();
    expect(calls[0]).toEqual({ type: 'decided', audit: expect.objectContaining({ jobId: 'job-a', status: 'passed', decidedAt: new Date(T0 + 1000).toISOString(), verdicts: [expect.anything(), expect.anything(), expect.anything()] }) });
    expect(calls.slice(1)).toEqual([
      { type: 'identity', contributorId: 'worker', record: expect.objectContaining({ passed: 1, record: { consecutivePasses: 1 }, reputation: { passes: 1, failures: 0, updatedAt: T0 + 1000 } }) },
      // The verifier who said otherwise has a dissent; those who approved, a confirmed pass.
      { type: 'identity', contributorId: 'v1', record: expect.objectContaining({ dissents: 1, confirmedPasses: 0 }) },
      { type: 'identity', contributorId: 'v2', record: expect.objectContaining({ dissents: 0, confirmedPasses: 1 }) },
      { type: 'identity', contributorId: 'v3', record: expect.objectContaining({ dissents: 0, confirmedPasses: 1 }) },
    ]);

    // Deciding it again writes nothing.
    book.decided('job-a', 'convicted');
    expect(rec.take()).toEqual([]);

    // An unverified audit after a failing verdict puts the worker back on probation: written too.
    book.opened({ jobId: 'job-b', model: MODEL, contributorId: 'worker', transcriptSha256: 'cd'.repeat(32) });
    book.verdict('job-b', verdict('v1', false));
    rec.take();
    book.decided('job-b', 'unverified');
    expect(rec.take()).toEqual([
      { type: 'decided', audit: expect.objectContaining({ jobId: 'job-b', status: 'unverified' }) },
      { type: 'identity', contributorId: 'worker', record: expect.objectContaining({ record: { consecutivePasses: 0 } }) },
    ]);

    book.plantedSent();
    expect(rec.take()).toEqual([]);
    book.plantedJudged('v2', true, 'known-bad');
    expect(rec.take()).toEqual([{ type: 'identity', contributorId: 'v2', record: expect.objectContaining({ verdicts: 2, plantedApproved: 1 }) }]);
    book.plantedSent();
    book.plantedJudged('v3', false, 'known-bad');
    expect(rec.take()).toEqual([{ type: 'identity', contributorId: 'v3', record: expect.objectContaining({ plantedRejected: 1 }) }]);
  });

  it('a convicted audit writes the worker (a failure in its reputation) and every verifier who passed it', () => {
    const rec = recorder();
    const book = newBook({ persist: rec.persist });
    const jobId = audited(book, 'cheat', [['a', false], ['b', true], ['c', false]], null);
    rec.take();
    book.decided(jobId, 'convicted');
    const calls = rec.take();
    expect(calls.map((c) => (c.type === 'identity' ? c.contributorId : c.type))).toEqual(['decided', 'cheat', 'b']);
    expect(calls[1]).toMatchObject({ record: { convicted: 1, reputation: { passes: 0, failures: 1 } } });
  });

  it('a book restored from what was written knows the same identities, audit rates, verifier trust and decided audits', () => {
    const rec = recorder();
    const book = newBook({ persist: rec.persist });
    const { jobIds, ids } = history(book);
    const restored = newBook({ restore: rec.restore() });
    const before = snapshot(book, ids, jobIds);
    expect(snapshot(restored, ids, jobIds)).toEqual(before);

    // The history is what it should be, so the comparison above means something.
    expect(book.record('steady')).toEqual({ consecutivePasses: 4 });
    expect(book.contributor('steady')?.worker.auditProbability).toBe(0.25); // past probation: 1/4
    expect(book.contributor('newbie')?.worker.auditProbability).toBe(1);
    expect(book.trustedVerifier('cheat')).toBe(false);
    expect(book.trustedVerifier('lazy')).toBe(false);
    expect(book.provenVerifier('proven')).toBe(true);
    expect(book.provenVerifier('checker')).toBe(false);
    expect(book.trustedVerifier('checker')).toBe(true);
    expect(book.fairVerifier('checker')).toBe(true);
    expect(book.fairVerifier('dissenter')).toBe(false);
    expect(book.trustedVerifier('harsh')).toBe(false);
    expect(book.contributor('dissenter')?.verifier.dissents).toBe(1);
    expect(book.job(jobIds[4] as string)?.status).toBe('convicted');

    // Time passes for both alike: the restored reputations decay from the same instants.
    clock += 5 * HALF_LIFE;
    expect(ids.map((id) => restored.reputation(id))).toEqual(ids.map((id) => book.reputation(id)));

    // And the restored book goes on from there: it writes through again.
    const again = recorder();
    const continued = newBook({ restore: rec.restore(), persist: again.persist });
    audited(continued, 'steady', [['proven', true]], 'passed');
    expect(continued.record('steady')).toEqual({ consecutivePasses: 5 });
    expect(continued.contributor('steady')?.worker).toMatchObject({ audited: 5, passed: 5, auditProbability: 0.2 });
  });

  it('round-trips through the SQLite TrustStore as main.ts wires it', async () => {
    const store: Store = openSqliteStore({ path: ':memory:', now });
    try {
      const writes: Array<Promise<void>> = [];
      const book = newBook({
        persist: {
          identity: (id, record, version) => void writes.push(store.trust.saveIdentity(id, record, version)),
          decided: (a) => void writes.push(store.trust.saveAudit({ jobId: a.jobId, contributorId: a.contributorId, status: a.status, body: JSON.stringify(a), decidedAt: a.decidedAt ?? now().toISOString() })),
        },
      });
      const { jobIds, ids } = history(book);
      await Promise.all(writes);
      const restored = newBook({
        restore: { identities: await store.trust.identities(), audits: (await store.trust.recentAudits(10_000)).recent.map((body) => JSON.parse(body) as JobAudit).reverse() },
      });
      expect(snapshot(restored, ids, jobIds)).toEqual(snapshot(book, ids, jobIds));
      expect((await store.trust.recentAudits(10)).counts).toEqual({ passed: 5, convicted: 1, unverified: 1 });
    } finally {
      store.close();
    }
  });

  it('an audit still under way is not restored (only decided audits are written)', () => {
    const rec = recorder();
    const book = newBook({ persist: rec.persist });
    const open = audited(book, 'worker', [['v1', false]], null);
    expect(book.auditOpen(open)).toBe(true);
    const restored = newBook({ restore: rec.restore() });
    expect(restored.auditOpen(open)).toBe(false);
    expect(restored.job(open)).toBeUndefined();
    // The worker's counts as written (one audit) are kept; nothing is pending.
    expect(restored.contributor('worker')?.worker).toMatchObject({ audited: 1, pending: 0 });
    expect(restored.contributor('v1')?.verifier.verdicts).toBe(1);
  });

  it('restored decided audits are copies: changing what was restored from does not change the book', () => {
    const rec = recorder();
    const book = newBook({ persist: rec.persist });
    const jobId = audited(book, 'worker', [['v1', true], ['v2', true]], 'passed');
    const restore = rec.restore();
    const restored = newBook({ restore });
    (restore.audits[0] as JobAudit).status = 'convicted';
    expect(restored.job(jobId)?.status).toBe('passed');
  });
});

describe('AuditBook reputation', () => {
  it('is 0.5 for a newcomer, rises with passes, and falls sharply with a conviction', () => {
    const book = newBook();
    expect(book.reputation('worker')).toBe(0.5);
    const scores: number[] = [];
    for (let i = 0; i < 5; i++) {
      audited(book, 'worker', [['v', true]], 'passed');
      scores.push(book.reputation('worker'));
    }
    for (let i = 1; i < scores.length; i++) expect(scores[i]).toBeGreaterThan(scores[i - 1] as number);
    expect(book.reputation('worker')).toBeCloseTo(6 / 7, 12); // (5 + 1) / (5 + 2)
    const gainOfOnePass = (scores[4] as number) - (scores[3] as number);

    audited(book, 'worker', [['v', false], ['w', false]], 'convicted');
    const afterConviction = book.reputation('worker');
    expect(afterConviction).toBeCloseTo(6 / (5 + FAILURE_WEIGHT + 2), 12);
    expect(afterConviction).toBeLessThan(0.5);
    expect((scores[4] as number) - afterConviction).toBeGreaterThan(10 * gainOfOnePass);
    expect(book.contributor('worker')?.reputation).toBe(afterConviction);
  });

  it('decays toward 0.5 with time, from above and from below', () => {
    const book = newBook();
    for (let i = 0; i < 5; i++) audited(book, 'good', [['v', true]], 'passed');
    audited(book, 'bad', [['v', false], ['w', false]], 'convicted');
    const good: number[] = [book.reputation('good')];
    const bad: number[] = [book.reputation('bad')];
    expect(good[0]).toBeGreaterThan(0.5);
    expect(bad[0]).toBeLessThan(0.5);
    for (let i = 0; i < 10; i++) {
      clock += HALF_LIFE;
      good.push(book.reputation('good'));
      bad.push(book.reputation('bad'));
    }
    // One half-life halves the counts: (2.5 + 1) / (2.5 + 2).
    expect(good[1]).toBeCloseTo(3.5 / 4.5, 12);
    for (let i = 1; i < good.length; i++) {
      expect(good[i]).toBeLessThan(good[i - 1] as number);
      expect(good[i]).toBeGreaterThan(0.5);
      expect(bad[i]).toBeGreaterThan(bad[i - 1] as number);
      expect(bad[i]).toBeLessThan(0.5);
    }
    expect(good.at(-1)).toBeCloseTo(0.5, 2);
    expect(bad.at(-1)).toBeCloseTo(0.5, 2);
  });

  it('old passes weigh less than recent ones: a conviction after a long clean record still drops below 0.5', () => {
    const book = newBook();
    for (let i = 0; i < 8; i++) audited(book, 'worker', [['v', true]], 'passed');
    clock += 3 * HALF_LIFE; // 8 passes weigh 1 now
    audited(book, 'worker', [['v', false], ['w', false]], 'convicted');
    expect(book.reputation('worker')).toBeCloseTo((1 + 1) / (1 + FAILURE_WEIGHT + 2), 12);
  });
});

describe('AuditBook.failingVerifiers', () => {
  it('lists each proven and fair verifier with confirmed passes whose verdict failed the job, once: others earn nothing', () => {
    const book = newBook();
    for (const v of ['a', 'c', 'lazy', 'convicted', 'rejects-all', 'untested']) planted(book, v, false); // proven: each rejected a planted known-bad transcript
    for (const v of ['a', 'c', 'lazy', 'convicted', 'rejects-all']) planted(book, v, true, 'known-good'); // fair: each approved a known-good one
    // Each approved a job whose audit passed, except the one that rejects everything.
    audited(book, 'someone', [['a', true], ['c', true], ['lazy', true], ['convicted', true], ['untested', true]], 'passed');
    const jobId = `job-${++jobs}`;
    book.opened({ jobId, model: MODEL, contributorId: 'worker', transcriptSha256: 'ab'.repeat(32) });
    book.verdict(jobId, verdict('a', false));
    book.verdict(jobId, verdict('b', true));
    book.verdict(jobId, verdict('c', false));
    book.verdict(jobId, verdict('a', false)); // a again (a re-sent verdict)
    book.verdict(jobId, verdict('lazy', false));
    book.verdict(jobId, verdict('convicted', false));
    book.verdict(jobId, verdict('unproven', false));
    book.verdict(jobId, verdict('rejects-all', false));
    book.verdict(jobId, verdict('untested', false)); // never approved a known-good transcript
    expect(book.failingVerifiers(jobId)).toEqual(['a', 'c', 'lazy', 'convicted']);

    // A verifier that approved a planted transcript, or was convicted as a worker, no longer counts.
    planted(book, 'lazy', true);
    audited(book, 'convicted', [['x', false], ['y', false]], 'convicted');
    expect(book.failingVerifiers(jobId)).toEqual(['a', 'c']);
    book.decided(jobId, 'convicted');
    expect(book.failingVerifiers(jobId)).toEqual(['a', 'c']);
  });

  it('keeps the newest save of an identity in the SQLite store, whatever order the saves land in', async () => {
    const store: Store = openSqliteStore({ path: ':memory:', now });
    try {
      await store.trust.saveIdentity('w', '{"v":2}', 2);
      await store.trust.saveIdentity('w', '{"v":1}', 1); // an older write landing late
      expect(await store.trust.identities()).toEqual([{ contributorId: 'w', record: '{"v":2}' }]);
      await store.trust.saveIdentity('w', '{"v":3}', 3);
      expect(await store.trust.identities()).toEqual([{ contributorId: 'w', record: '{"v":3}' }]);
    } finally {
      store.close();
    }
  });

  it('is empty for a job with no failing verdict, and for an unknown job', () => {
    const book = newBook();
    const jobId = audited(book, 'worker', [['a', true], ['b', true]], 'passed');
    expect(book.failingVerifiers(jobId)).toEqual([]);
    expect(book.failingVerifiers('no-such-job')).toEqual([]);
  });
});
