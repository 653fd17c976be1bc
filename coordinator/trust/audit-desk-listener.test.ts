/**
 * What the audit desk tells its `listener` (the economy): a fee-earning `verdictGiven` for every signed verdict on a
 * real transcript and every right verdict on a planted one, with the transcript's token counts; and `decided` for each real job's audit,
 * with the failing verifiers a conviction rewards (proven, with confirmed passes). Setup from test/unit/audit-desk-harness.ts, as in audit-desk.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { answer, audits, auditDeskHarness, auditWithTwoVerifiers, completedJob, FAIL, lastAudit, MODEL, PASS, type AuditDeskHarnessOptions, type TestTab } from '../../test/unit/audit-desk-harness.ts';
import type { Verdict } from '../../src/protocol/tab.ts';
import type { AuditListener } from './audit-desk.ts';

type VerdictGiven = Parameters<AuditListener['verdictGiven']>[0];
type Decided = Parameters<AuditListener['decided']>[0];

/** A desk whose listener's calls are kept in `calls`. */
function network(options: Omit<AuditDeskHarnessOptions, 'listener'> = {}) {
  const calls = { verdicts: [] as VerdictGiven[], decided: [] as Decided[] };
  const net = auditDeskHarness({ ...options, listener: { verdictGiven: (v) => calls.verdicts.push(v), decided: (d) => calls.decided.push(d) } });
  return { ...net, calls };
}

/**
 * A worker and three verifiers; `judge` has the verifier now holding the audit answer `verdict`, and returns its
 * identity. `nextJob` forgets who answered and what was sent, for the worker's next job.
 */
function threeVerifiers() {
  const net = network();
  const worker = net.openTab();
  const tabs = [net.openTab(), net.openTab(), net.openTab()];
  // Each has approved a job whose audit passed: its failing verdicts may earn a share of a slashed stake.
  const earlier = 'job-confirmed-earlier';
  net.book.opened({ jobId: earlier, model: MODEL, contributorId: 'someone-else', transcriptSha256: '00'.repeat(32) });
  for (const t of tabs) net.book.verdict(earlier, { auditId: 'audit-earlier', verifier: t.identity.contributorId, publicKey: t.identity.publicKey, backend: 'wasm', verdict: PASS, signature: 'sig', at: '' });
  net.book.decided(earlier, 'passed');
  const answered = new Set<TestTab>();
  const judge = (verdict: Verdict) => {
    const verifier = holder(tabs, answered);
    answered.add(verifier);
    answer(net.desk, verifier, verdict);
    return verifier.identity.contributorId;
  };
  const nextJob = () => {
    answered.clear();
    for (const t of tabs) t.link.sent.length = 0;
  };
  return { ...net, worker, judge, nextJob };
}

/** The verifier among `tabs` holding an audit it has not answered yet. */
function holder(tabs: TestTab[], answered: Set<TestTab>): TestTab {
  const found = tabs.find((t) => audits(t).length > 0 && !answered.has(t));
  if (!found) throw new Error('no verifier holds the audit');
  return found;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('AuditDesk listener', () => {
  it("a verdict earns its verifier a fee on the transcript's token counts; a pass is decided with no one convicting", () => {
    const { desk, calls, openTab } = network();
    const worker = openTab();
    const verifier = openTab();
    const job = completedJob(worker, { promptTokens: 17, completionTokens: 4 });
    desk.jobCompleted(job);
    expect(calls).toEqual({ verdicts: [], decided: [] });
    const audit = lastAudit(verifier);
    answer(desk, verifier, PASS);
    expect(calls.verdicts).toEqual([{ auditId: audit.auditId, verifierId: verifier.identity.contributorId, model: MODEL, promptTokens: 17, completionTokens: 4 }]);
    expect(calls.decided).toEqual([{ jobId: job.task.jobId, workerId: worker.identity.contributorId, status: 'passed', convictedBy: [] }]);
  });

  it('rejecting a planted transcript earns the fee of its copy’s token counts, approving one earns nothing; neither decides a job', () => {
    const { desk, calls, registry, openTab } = network({ random: () => 0.99 });
    const worker = openTab([MODEL], { proven: false });
    const verifier = openTab([MODEL], { proven: false });
    const job = completedJob(worker, { promptTokens: 23, completionTokens: 9 });
    desk.jobCompleted(job);
    const real = lastAudit(verifier);
    answer(desk, verifier, PASS); // a lone unproven pass: the verifier gets a planted copy
    const planted = lastAudit(verifier);
    expect(planted.auditId).not.toBe(real.auditId);
    expect(calls.decided).toEqual([]);
    answer(desk, verifier, FAIL, planted); // rejects it, as it should: proven, and its pass now clears the job
    const verifierId = verifier.identity.contributorId;
    expect(calls.verdicts).toEqual([
      { auditId: real.auditId, verifierId, model: MODEL, promptTokens: 23, completionTokens: 9 },
      { auditId: planted.auditId, verifierId, model: MODEL, promptTokens: 23, completionTokens: 9 },
    ]);
    expect(calls.decided).toEqual([{ jobId: job.task.jobId, workerId: worker.identity.contributorId, status: 'passed', convictedBy: [] }]);

    // A lazy verifier approving its planted copy earns nothing for that verdict (it is caught by it).
    const lazy = openTab([MODEL], { proven: false });
    registry.remove(verifier.tab.id);
    desk.tabClosed(verifier.tab);
    desk.jobCompleted(completedJob(worker, { promptTokens: 5, completionTokens: 2 }));
    answer(desk, lazy, PASS);
    const lazyPlanted = lastAudit(lazy);
    answer(desk, lazy, PASS, lazyPlanted);
    expect(calls.verdicts.at(-1)).toMatchObject({ verifierId: lazy.identity.contributorId, promptTokens: 5, completionTokens: 2 }); // its real verdict
    expect(calls.verdicts.map((v) => v.auditId)).not.toContain(lazyPlanted.auditId);
    expect(calls.verdicts).toHaveLength(3);
    expect(calls.decided).toHaveLength(1); // the second job waits for a trusted verifier
  });

  it('approving a planted known-good transcript earns the fee of its token counts; rejecting one earns nothing', () => {
    const net = network({ random: () => 0.99 });
    const { desk, calls, registry, openTab } = net;
    const worker = openTab();
    const judge = openTab();
    desk.jobCompleted(completedJob(worker, { promptTokens: 11, completionTokens: 3 }));
    answer(desk, judge, PASS); // passed by a proven verifier: the source of known-good copies
    registry.remove(judge.tab.id);
    desk.tabClosed(judge.tab);
    for (const [verdict, earns] of [[PASS, true], [FAIL, false]] as const) {
      const untested = openTab([MODEL], { fair: false });
      desk.jobCompleted(completedJob(worker));
      answer(desk, untested, FAIL); // a failure from a verifier not known to be fair: it gets a known-good copy
      const test = lastAudit(untested);
      answer(desk, untested, verdict, test);
      expect(calls.verdicts.some((v) => v.auditId === test.auditId)).toBe(earns);
      if (earns) expect(calls.verdicts.at(-1)).toMatchObject({ auditId: test.auditId, promptTokens: 11, completionTokens: 3 });
      registry.remove(untested.tab.id);
      desk.tabClosed(untested.tab);
      // The job's audit, still waiting for a second verifier, is given up, so the next verifier gets the next job's.
      net.clock.now += 600_001;
      desk.pump();
    }
  });

  it('a conviction names the failing verifiers; a split decided by a third pass names none', () => {
    const { desk, calls, worker, judge, nextJob } = threeVerifiers();

    const convicted = completedJob(worker);
    desk.jobCompleted(convicted);
    const first = judge(FAIL);
    const second = judge(FAIL);
    expect(calls.decided).toEqual([{ jobId: convicted.task.jobId, workerId: worker.identity.contributorId, status: 'convicted', convictedBy: [first, second] }]);
    expect(calls.verdicts.map((v) => v.verifierId)).toEqual([first, second]);

    nextJob();
    const split = completedJob(worker);
    desk.jobCompleted(split);
    judge(FAIL);
    judge(PASS);
    judge(PASS);
    expect(calls.decided.at(-1)).toEqual({ jobId: split.task.jobId, workerId: worker.identity.contributorId, status: 'passed', convictedBy: [] });
    expect(calls.verdicts).toHaveLength(5);

    // Fail, pass, fail: convicted by the two who failed it, not the one who passed it.
    nextJob();
    const majority = completedJob(worker);
    desk.jobCompleted(majority);
    const a = judge(FAIL);
    judge(PASS);
    const c = judge(FAIL);
    expect(calls.decided.at(-1)).toEqual({ jobId: majority.task.jobId, workerId: worker.identity.contributorId, status: 'convicted', convictedBy: [a, c] });
  });

  it('a failing verifier no longer trusted is not among those who convicted', () => {
    const { desk, calls, book, worker, judge } = threeVerifiers();
    const job = completedJob(worker);
    desk.jobCompleted(job);
    const distrusted = judge(FAIL);
    // That verifier's own job is convicted: its failing verdict stops counting.
    book.opened({ jobId: 'its-own-job', model: MODEL, contributorId: distrusted, transcriptSha256: '0'.repeat(64) });
    book.decided('its-own-job', 'convicted');
    const b = judge(FAIL);
    expect(calls.decided).toEqual([]); // one counted failure: a third verifier is called
    const c = judge(FAIL);
    expect(calls.decided).toEqual([{ jobId: job.task.jobId, workerId: worker.identity.contributorId, status: 'convicted', convictedBy: [b, c] }]);
    // All three verdicts earned their fee.
    expect(calls.verdicts.map((v) => v.verifierId)).toEqual([distrusted, b, c]);
  });

  it('verdicts that are dropped or not signed earn nothing', () => {
    const { desk, calls, given, other } = auditWithTwoVerifiers(network());
    const audit = lastAudit(given);
    desk.handle(other.tab, { type: 'verdict', auditId: audit.auditId, transcriptSha256: audit.transcriptSha256, verdict: PASS, signature: other.identity.signVerdict(audit.auditId, audit.transcriptSha256, PASS) });
    desk.handle(given.tab, { type: 'verdict', auditId: audit.auditId, transcriptSha256: audit.transcriptSha256, verdict: PASS, signature: given.identity.signVerdict(audit.auditId, audit.transcriptSha256, FAIL) });
    expect(calls.verdicts).toEqual([]);
    desk.handle(other.tab, { type: 'audit-failed', auditId: audit.auditId, reason: 'model_not_loaded', message: 'no model' });
    expect(calls).toEqual({ verdicts: [], decided: [] });
  });

  it('an audit no verifier judged in time is decided unverified, with no one convicting', () => {
    const { desk, calls, clock, openTab } = network({ pendingTimeoutMs: 1000 });
    const worker = openTab();
    const job = completedJob(worker);
    desk.jobCompleted(job);
    clock.now = 1001;
    desk.pump();
    expect(calls.decided).toEqual([{ jobId: job.task.jobId, workerId: worker.identity.contributorId, status: 'unverified', convictedBy: [] }]);
    expect(calls.verdicts).toEqual([]);
  });

  it("a worker's audit beyond its cap of open audits is decided unverified at once", () => {
    const { desk, calls, openTab } = network();
    const flooder = openTab();
    const flood = Array.from({ length: 201 }, () => completedJob(flooder));
    for (const job of flood) desk.jobCompleted(job);
    expect(calls.decided).toEqual([{ jobId: flood[200]?.task.jobId, workerId: flooder.identity.contributorId, status: 'unverified', convictedBy: [] }]);
  });
});
