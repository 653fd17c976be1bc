import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { answer, audits, auditDeskHarness, auditWithTwoVerifiers, completedJob, FAIL, lastAudit, MODEL, PASS, TOLERANCES, type TestTab } from '../../test/unit/audit-desk-harness.ts';
import { toHex, transcriptOf } from '../../src/protocol/identity.ts';
import { sha256 } from '../identity/ed25519.ts';
import { parseAuditTranscript, transcriptTokensOf } from '../../src/protocol/mesh.ts';
import type { Verdict } from '../../src/protocol/tab.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('AuditDesk', () => {
  it("sends a new identity's job to a verifier of another identity, which gets the transcript from the worker over the mesh", () => {
    const { desk, book, openTab } = auditDeskHarness();
    const worker = openTab();
    const sameIdentity = openTab([MODEL], { identity: worker.identity });
    openTab(['other-model']);
    const verifier = openTab();
    const job = completedJob(worker);
    desk.jobCompleted(job);

    expect(audits(sameIdentity)).toHaveLength(0);
    const audit = lastAudit(verifier);
    expect(audit).toMatchObject({ model: MODEL, from: worker.tab.peerId, tolerances: TOLERANCES, transcriptSha256: toHex(sha256(transcriptOf(job.task, job.tokens, job.end))) });
    expect(audit.transcript).toBeUndefined();
    expect(worker.link.ofType('share')).toEqual([{ type: 'share', auditId: audit.auditId, jobId: job.task.jobId, to: verifier.tab.peerId }]);
    expect(book.job(job.task.jobId)).toMatchObject({ status: 'pending', contributorId: worker.identity.contributorId });

    answer(desk, verifier, PASS);
    const decided = book.job(job.task.jobId);
    expect(decided?.status).toBe('passed');
    expect(decided?.verdicts).toEqual([expect.objectContaining({ verifier: verifier.identity.contributorId, verdict: PASS })]);
    expect(book.contributor(worker.identity.contributorId)?.worker).toMatchObject({ audited: 1, passed: 1, consecutivePasses: 1 });
    expect(desk.open).toBe(0);
  });

  it('gives no audit to a paused tab, nor to one whose contributor does not allow the model', () => {
    const { desk, openTab } = auditDeskHarness();
    const worker = openTab();
    const paused = openTab();
    paused.tab.contributorLimits = { paused: true, models: null, share: 1 };
    const picky = openTab();
    picky.tab.contributorLimits = { paused: false, models: ['other-model'], share: 1 };
    const willing = openTab();
    for (let i = 0; i < 3; i++) {
      desk.jobCompleted(completedJob(worker));
      answer(desk, willing, PASS);
    }
    expect([audits(paused), audits(picky)]).toEqual([[], []]);
    expect(audits(willing)).toHaveLength(3);
  });

  it('audits every job until the probation passes, then at max(pMin, 1/passes)', () => {
    const draws = [0.2];
    const { desk, openTab } = auditDeskHarness({ policy: { probation: 2, pMin: 0.05 }, random: () => draws[0] as number });
    const worker = openTab();
    const verifier = openTab();
    for (let i = 0; i < 2; i++) {
      desk.jobCompleted(completedJob(worker));
      answer(desk, verifier, PASS);
    }
    // Two passes in a row: p = 1/2 now. A draw of 0.6 is not audited, 0.2 is.
    draws[0] = 0.6;
    desk.jobCompleted(completedJob(worker));
    expect(audits(verifier)).toHaveLength(2);
    draws[0] = 0.2;
    desk.jobCompleted(completedJob(worker));
    expect(audits(verifier)).toHaveLength(3);
  });

  it('a failure calls a second verifier; two failures convict, a split calls a third who decides', () => {
    const { desk, book, openTab } = auditDeskHarness();
    const worker = openTab();
    const [a, b, c] = [openTab(), openTab(), openTab()];
    const byAudit = () => [a, b, c].find((t) => t.link.ofType('audit').length > 0 && !answered.has(t)) as TestTab;
    const answered = new Set<TestTab>();
    const judge = (verdict: Verdict) => {
      const verifier = byAudit();
      answered.add(verifier);
      answer(desk, verifier, verdict);
      return verifier;
    };

    const convicted = completedJob(worker);
    desk.jobCompleted(convicted);
    judge(FAIL);
    expect(book.job(convicted.task.jobId)?.status).toBe('pending');
    judge(FAIL);
    expect(book.job(convicted.task.jobId)?.status).toBe('convicted');
    expect(book.contributor(worker.identity.contributorId)?.worker).toMatchObject({ convicted: 1, consecutivePasses: 0 });

    answered.clear();
    for (const t of [a, b, c]) t.link.sent.length = 0;
    const split = completedJob(worker);
    desk.jobCompleted(split);
    const first = judge(FAIL);
    judge(PASS);
    expect(book.job(split.task.jobId)?.status).toBe('pending');
    judge(PASS);
    expect(book.job(split.task.jobId)?.status).toBe('passed');
    expect(book.job(split.task.jobId)?.verdicts).toHaveLength(3);
    expect(book.contributor(first.identity.contributorId)?.verifier.dissents).toBe(1);
  });

  it("stops counting a verifier's verdict once that identity is convicted as a worker", () => {
    const { desk, book, job, given: first, other: second } = auditWithTwoVerifiers(auditDeskHarness());
    answer(desk, first, FAIL);
    answer(desk, second, PASS);
    expect(book.job(job.task.jobId)?.status).toBe('pending'); // a split, and no third verifier here

    // The dissenting verifier's own job is convicted: its verdict no longer counts, which decides the split.
    book.opened({ jobId: 'its-own-job', model: MODEL, contributorId: first.identity.contributorId, transcriptSha256: '0'.repeat(64) });
    book.decided('its-own-job', 'convicted');
    desk.pump();
    expect(book.job(job.task.jobId)?.status).toBe('passed');
    expect(book.contributor(first.identity.contributorId)?.verifier.trusted).toBe(false);
  });

  it('drops verdicts from tabs not given the audit, and passes over a verdict that is not signed for the transcript', () => {
    const { desk, logs, book, job, given, other } = auditWithTwoVerifiers(auditDeskHarness());
    const audit = lastAudit(given);

    desk.handle(other.tab, { type: 'verdict', auditId: audit.auditId, transcriptSha256: audit.transcriptSha256, verdict: PASS, signature: other.identity.signVerdict(audit.auditId, audit.transcriptSha256, PASS) });
    expect(book.job(job.task.jobId)?.status).toBe('pending');
    expect(logs.at(-1)).toMatch(/was not given/);

    // Signed for a different verdict than the one sent: not accepted; the other verifier gets the audit.
    desk.handle(given.tab, { type: 'verdict', auditId: audit.auditId, transcriptSha256: audit.transcriptSha256, verdict: PASS, signature: given.identity.signVerdict(audit.auditId, audit.transcriptSha256, FAIL) });
    expect(book.job(job.task.jobId)?.status).toBe('pending');
    expect(audits(other)).toHaveLength(1);
    answer(desk, other, PASS);
    expect(book.job(job.task.jobId)?.status).toBe('passed');
  });

  it("sends the coordinator's own copy inline when the worker cannot share it, has left, or has no mesh peer", () => {
    const { desk, registry, openTab } = auditDeskHarness();
    const worker = openTab();
    const verifier = openTab();
    const job = completedJob(worker);
    desk.jobCompleted(job);
    const first = lastAudit(verifier);
    desk.handle(worker.tab, { type: 'share-failed', auditId: first.auditId, message: 'no connection' });
    const resent = lastAudit(verifier);
    expect(resent.auditId).toBe(first.auditId);
    const parsed = parseAuditTranscript(resent.transcript ?? '');
    expect(parsed.ok && parsed.message).toMatchObject({ auditId: first.auditId, task: { jobId: job.task.jobId }, tokens: job.tokens.map((t) => [t.id, t.logprob, []]) });
    answer(desk, verifier, PASS);

    // The worker left before its audit: the verifier gets the transcript inline, at once.
    const second = completedJob(worker);
    registry.remove(worker.tab.id);
    desk.jobCompleted(second);
    expect(lastAudit(verifier).transcript).toBeDefined();
    // A missing transcript over the mesh is also resent inline.
    answer(desk, verifier, PASS);
    const noPeer = openTab([MODEL], { peer: false });
    desk.jobCompleted(completedJob(noPeer));
    expect(lastAudit(verifier).transcript).toBeDefined();
  });

  it('a verifier that reports the transcript missing gets it inline; one that cannot judge is replaced', () => {
    const { desk, given, other } = auditWithTwoVerifiers(auditDeskHarness());
    const audit = lastAudit(given);
    desk.handle(given.tab, { type: 'audit-failed', auditId: audit.auditId, reason: 'transcript_missing', message: 'nothing came' });
    expect(lastAudit(given).transcript).toBeDefined();
    // Once the inline copy is on its way, a (crossing) report that nothing came changes nothing: the verifier judges
    // the inline copy; the verdict timeout covers one that never does.
    desk.handle(given.tab, { type: 'audit-failed', auditId: audit.auditId, reason: 'transcript_missing', message: 'nothing came' });
    expect(audits(given)).toHaveLength(2);
    expect(audits(other)).toHaveLength(0);
    desk.handle(given.tab, { type: 'audit-failed', auditId: audit.auditId, reason: 'model_not_loaded', message: 'no model' });
    expect(audits(other)).toHaveLength(1);
  });

  it('reassigns the audits of a verifier that leaves or does not answer in time', () => {
    const { desk, registry, openTab } = auditDeskHarness();
    const worker = openTab();
    const [a, b, c] = [openTab(), openTab(), openTab()];
    desk.jobCompleted(completedJob(worker));
    const first = [a, b, c].find((t) => audits(t).length) as TestTab;
    registry.remove(first.tab.id);
    desk.tabClosed(first.tab);
    const second = [a, b, c].find((t) => t !== first && audits(t).length) as TestTab;
    expect(second).toBeDefined();
    vi.advanceTimersByTime(60_001);
    const third = [a, b, c].find((t) => t !== first && t !== second && audits(t).length);
    expect(third).toBeDefined();
  });

  it('pauses a tab that gave no usable answer to three audits in a row', () => {
    const { desk, logs, openTab } = auditDeskHarness();
    const worker = openTab();
    const silent = openTab();
    for (let i = 0; i < 3; i++) {
      desk.jobCompleted(completedJob(worker));
      vi.advanceTimersByTime(60_001);
    }
    expect(audits(silent)).toHaveLength(3);
    expect(logs.some((l) => l.includes('no usable answer to 3 audits'))).toBe(true);
    desk.jobCompleted(completedJob(worker));
    expect(audits(silent)).toHaveLength(3);
  });

  it('caps the open audits of one worker identity: beyond it, its jobs go unverified at once', () => {
    const { desk, book, openTab } = auditDeskHarness();
    const flooder = openTab();
    const jobs = Array.from({ length: 201 }, () => completedJob(flooder));
    for (const job of jobs) desk.jobCompleted(job);
    expect(desk.open).toBe(200);
    expect(book.job(jobs[200]!.task.jobId)?.status).toBe('unverified');
  });

  it('records an audit as unverified when no verifier turns up in time', () => {
    const { desk, book, clock, openTab } = auditDeskHarness({ pendingTimeoutMs: 1000 });
    const worker = openTab();
    const job = completedJob(worker);
    desk.jobCompleted(job);
    expect(book.job(job.task.jobId)?.status).toBe('pending');
    clock.now = 1001;
    desk.pump();
    expect(book.job(job.task.jobId)?.status).toBe('unverified');
    expect(book.contributor(worker.identity.contributorId)?.worker.consecutivePasses).toBe(0);
  });

  it("tests an untested verifier whose pass stands alone with a planted transcript; one who approves it is trusted no more", () => {
    const { desk, logs, book, registry, openTab } = auditDeskHarness({ random: () => 0.99 });
    const worker = openTab([MODEL], { proven: false });
    const verifier = openTab([MODEL], { proven: false });
    const job = completedJob(worker);
    desk.jobCompleted(job);
    answer(desk, verifier, PASS);
    // A lone pass from a verifier never tested does not clear the job; the verifier gets a planted copy at once,
    // carried over the mesh by another tab (here the worker) like any transcript.
    expect(book.job(job.task.jobId)?.status).toBe('pending');
    const planted = lastAudit(verifier);
    const share = worker.link.ofType('share').at(-1);
    expect(share).toMatchObject({ auditId: planted.auditId, to: verifier.tab.peerId });
    const parsed = parseAuditTranscript(share?.transcript ?? '');
    if (!parsed.ok) throw new Error(parsed.error);
    const changed = parsed.message.tokens.filter(([id, logprob], i) => id !== job.tokens[i]?.id || logprob !== job.tokens[i]?.logprob);
    expect(changed).toHaveLength(1);
    expect(parsed.message.task.jobId).not.toBe(job.task.jobId);
    expect(toHex(sha256(transcriptOf(parsed.message.task, transcriptTokensOf(parsed.message), parsed.message.end)))).toBe(planted.transcriptSha256);
    // Rejecting it proves the verifier, and its pass now clears the job.
    answer(desk, verifier, FAIL, planted);
    expect(book.job(job.task.jobId)?.status).toBe('passed');
    expect(book.contributor(verifier.identity.contributorId)?.verifier).toMatchObject({ plantedRejected: 1, trusted: true });

    // A lazy verifier approves its planted copy: its pass stops counting and a trusted verifier decides instead.
    registry.remove(verifier.tab.id);
    desk.tabClosed(verifier.tab);
    const lazy = openTab([MODEL], { proven: false });
    const second = completedJob(worker);
    desk.jobCompleted(second);
    answer(desk, lazy, PASS);
    answer(desk, lazy, PASS); // the planted copy it got next
    expect(book.contributor(lazy.identity.contributorId)?.verifier).toMatchObject({ plantedApproved: 1, trusted: false });
    expect(logs.some((l) => l.includes('approved a planted'))).toBe(true);
    expect(book.job(second.task.jobId)?.status).toBe('pending');
    const trusted = openTab();
    desk.pump();
    expect(lastAudit(trusted).transcriptSha256).toBe(book.job(second.task.jobId)?.transcriptSha256);
    answer(desk, trusted, PASS);
    expect(book.job(second.task.jobId)?.status).toBe('passed');
    desk.jobCompleted(completedJob(worker));
    expect(audits(lazy)).toHaveLength(2);
    expect(book.summary().planted).toEqual({ rejected: 2, approved: 1 });
  });

  /** `t` closes: gone from the registry and the desk. */
  function leave(net: ReturnType<typeof auditDeskHarness>, t: TestTab) {
    net.registry.remove(t.tab.id);
    net.desk.tabClosed(t.tab);
  }

  /** A job of `worker`'s that the proven and fair verifier `judge` passed (a source of known-good copies), after which `judge` leaves. */
  function passedThenLeaves(net: ReturnType<typeof auditDeskHarness>, worker: TestTab, judge: TestTab) {
    const job = completedJob(worker);
    net.desk.jobCompleted(job);
    answer(net.desk, judge, PASS);
    expect(net.book.job(job.task.jobId)?.status).toBe('passed');
    leave(net, judge);
    return job;
  }

  /** As `passedThenLeaves`, with a worker of its own that leaves too: only the source stays. */
  function onlyASourceLeft(net: ReturnType<typeof auditDeskHarness>) {
    const worker = net.openTab();
    passedThenLeaves(net, worker, net.openTab());
    leave(net, worker);
  }

  it('two verifiers that reject everything cannot convict: each fails a known-good copy of a passed job and is trusted no more', () => {
    const net = auditDeskHarness({ random: () => 0.99 });
    const { desk, book, logs, openTab } = net;
    const worker = openTab();
    const source = passedThenLeaves(net, worker, openTab());
    const [r1, r2] = [openTab([MODEL], { fair: false }), openTab([MODEL], { fair: false })];
    const job = completedJob(worker);
    desk.jobCompleted(job);
    const given = audits(r1).length ? r1 : r2;
    const other = given === r1 ? r2 : r1;
    answer(desk, given, FAIL);
    // Its failure cannot count yet: it is tested with a known-good copy (the passed job under a new id), and the
    // real audit goes on to the other verifier.
    const test = lastAudit(given);
    expect(test.auditId).not.toBe(audits(given)[0]?.auditId);
    const carried = [worker, other].flatMap((t) => t.link.ofType('share')).find((m) => m.auditId === test.auditId);
    expect(carried).toMatchObject({ auditId: test.auditId, to: given.tab.peerId });
    const parsed = parseAuditTranscript(carried?.transcript ?? '');
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.message.task).toMatchObject({ model: source.task.model, messages: source.task.messages, params: source.task.params });
    expect(parsed.message.task.jobId).not.toBe(source.task.jobId);
    expect(transcriptTokensOf(parsed.message).map(({ id, logprob }) => ({ id, logprob }))).toEqual(source.tokens);
    answer(desk, given, FAIL, test);
    answer(desk, other, FAIL);
    answer(desk, other, FAIL, lastAudit(other));
    for (const r of [given, other]) expect(book.contributor(r.identity.contributorId)?.verifier).toMatchObject({ goodRejected: 1, trusted: false });
    expect(logs.filter((l) => l.includes('rejected a planted known-good transcript'))).toHaveLength(2);
    expect(book.job(job.task.jobId)?.status).toBe('pending');
    expect(book.contributor(worker.identity.contributorId)?.worker.convicted).toBe(0);
    // A fair verifier decides it.
    const fair = openTab();
    desk.pump();
    answer(desk, fair, PASS);
    expect(book.job(job.task.jobId)?.status).toBe('passed');
    expect(book.summary().plantedGood.rejected).toBe(2);
  });

  it("a failure counts once its verifier approves its known-good test: the audit waits for the answer, then convicts", () => {
    const net = auditDeskHarness({ random: () => 0.99 });
    const { desk, book, openTab } = net;
    onlyASourceLeft(net);
    const cheater = openTab();
    const untested = openTab([MODEL], { fair: false });
    const job = completedJob(cheater);
    desk.jobCompleted(job);
    answer(desk, untested, FAIL);
    const test = lastAudit(untested);
    // A fair verifier fails it too: one fair failure and one not yet known to be fair do not convict.
    const fair = openTab();
    desk.pump();
    answer(desk, fair, FAIL);
    expect(book.job(job.task.jobId)?.status).toBe('pending');
    answer(desk, untested, PASS, test);
    expect(book.contributor(untested.identity.contributorId)?.verifier).toMatchObject({ goodApproved: 1, trusted: true });
    expect(book.job(job.task.jobId)?.status).toBe('convicted');
    expect(book.job(job.task.jobId)?.verdicts.map((v) => v.verifier).sort()).toEqual([untested.identity.contributorId, fair.identity.contributorId].sort());
  });

  it('plants known-good copies only of jobs a proven verifier passed', () => {
    const net = auditDeskHarness({ random: () => 0.99 });
    const { desk, book, openTab } = net;
    const worker = openTab();
    // Passed by two unproven verifiers: no source of known-good copies.
    const [u1, u2] = [openTab([MODEL], { proven: false }), openTab([MODEL], { proven: false })];
    const job = completedJob(worker);
    desk.jobCompleted(job);
    const first = audits(u1).length ? u1 : u2;
    answer(desk, first, PASS);
    const plant = lastAudit(first); // its lone pass got it a known-bad test
    answer(desk, first === u1 ? u2 : u1, PASS);
    expect(book.job(job.task.jobId)?.status).toBe('passed');
    answer(desk, first, PASS, plant);
    for (const t of [u1, u2]) leave(net, t);
    const untested = openTab([MODEL], { fair: false });
    const next = completedJob(worker);
    desk.jobCompleted(next);
    answer(desk, untested, FAIL);
    expect(audits(untested)).toHaveLength(1);
    expect(book.job(next.task.jobId)?.status).toBe('pending');
    expect(desk.open).toBe(1); // the job's audit, and no known-good copy planted
  });

  it('plants no known-good copy of a job whose audit passed over a failing verdict', () => {
    const net = auditDeskHarness({ random: () => 0.99 });
    const { desk, book, openTab } = net;
    const worker = openTab();
    const tabs: TestTab[] = [];
    const job = completedJob(worker);
    desk.jobCompleted(job);
    // One at a time, so each verdict is the next verifier's: fail, pass, pass (all proven and fair).
    for (const verdict of [FAIL, PASS, PASS]) {
      const verifier = openTab();
      tabs.push(verifier);
      desk.pump();
      answer(desk, verifier, verdict);
    }
    expect(book.job(job.task.jobId)?.status).toBe('passed');
    for (const t of tabs) leave(net, t);
    const untested = openTab([MODEL], { fair: false });
    desk.jobCompleted(completedJob(worker));
    answer(desk, untested, FAIL);
    expect(desk.open).toBe(1);
  });

  it('tests a third verifier whose failure would decide: the audit waits for its known-good test instead of closing', () => {
    const net = auditDeskHarness({ random: () => 0.99 });
    const { desk, book, openTab } = net;
    onlyASourceLeft(net);
    const cheater = openTab();
    const job = completedJob(cheater);
    desk.jobCompleted(job);
    // A fair failure, a proven pass, then a failure from a verifier never given a known-good transcript.
    for (const [verdict, fair] of [[FAIL, true], [PASS, true]] as const) {
      const verifier = openTab([MODEL], { fair });
      desk.pump();
      answer(desk, verifier, verdict);
    }
    const third = openTab([MODEL], { fair: false });
    desk.pump();
    answer(desk, third, FAIL);
    expect(book.job(job.task.jobId)?.status).toBe('pending');
    answer(desk, third, PASS, lastAudit(third)); // its test: approved
    expect(book.job(job.task.jobId)?.status).toBe('convicted');
  });
});
