/**
 * What the audit desk tells its `listener` (the economy): a fee-earning `verdictGiven` for every signed verdict, on
 * real and planted transcripts alike, with the transcript's token counts; and `decided` for each real job's audit,
 * with the failing (trusted) verifiers who convicted it. Setup helpers as in audit-desk.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditDesk, type AuditListener, type CompletedJob } from './audit-desk.ts';
import { AuditBook } from './audit-book.ts';
import type { AuditPolicy } from './audit-policy.ts';
import { TabRegistry, type Tab } from '../tabs/tab-registry.ts';
import { RecordingLink, TestIdentity } from '../../test/unit/tab-peer.ts';
import type { CoordinatorToTab, TaskMessage, Verdict } from '../../src/protocol/tab.ts';

const MODEL = 'dolphin-tiny';
const TOLERANCES = { epsilon: 1e-3, delta: 1e-3, tau: 1e-3 };
const PASS: Verdict = { ok: true, firstFailure: null, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 1e-6 };
const FAIL: Verdict = { ok: false, firstFailure: { position: 2, reason: 'logprob_mismatch' }, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 0.7 };

type Audit = Extract<CoordinatorToTab, { type: 'audit' }>;
type VerdictGiven = Parameters<AuditListener['verdictGiven']>[0];
type Decided = Parameters<AuditListener['decided']>[0];

interface TestTab {
  tab: Tab;
  link: RecordingLink;
  identity: TestIdentity;
}

let registry: TabRegistry;
let book: AuditBook;
let clock: number;
let jobs = 0;

function network(options: { policy?: AuditPolicy; random?: () => number; pendingTimeoutMs?: number } = {}) {
  registry = new TabRegistry();
  const policy = options.policy ?? { probation: 3, pMin: 0.05 };
  book = new AuditBook(policy);
  clock = 0;
  const calls = { verdicts: [] as VerdictGiven[], decided: [] as Decided[] };
  const desk = new AuditDesk({
    listener: { verdictGiven: (v) => calls.verdicts.push(v), decided: (d) => calls.decided.push(d) },
    registry,
    book,
    policy,
    tolerances: TOLERANCES,
    plantRate: 0,
    random: options.random ?? (() => 0.5),
    verdictTimeoutMs: 60_000,
    pendingTimeoutMs: options.pendingTimeoutMs ?? 600_000,
    now: () => clock,
    log: () => {},
  });
  return { desk, calls };
}

let nextPeer = 1;
function prove(contributorId: string) {
  book.plantedSent();
  book.plantedJudged(contributorId, false);
}
function openTab(models = [MODEL], options: { proven?: boolean } = {}): TestTab {
  const link = new RecordingLink();
  const identity = new TestIdentity();
  if (options.proven !== false) prove(identity.contributorId);
  const tab = registry.add(link);
  Object.assign(tab, { ready: true, contributorId: identity.contributorId, publicKey: identity.publicKey, backend: 'wasm', models, peerId: `peer${nextPeer++}` });
  return { tab, link, identity };
}

function completedJob(worker: TestTab, end: { promptTokens: number; completionTokens: number } = { promptTokens: 6, completionTokens: 4 }): CompletedJob {
  const task: TaskMessage = {
    type: 'task',
    jobId: `job-${++jobs}`,
    model: MODEL,
    messages: [{ role: 'user', content: 'hi' }],
    params: { maxTokens: 8, temperature: 0.8, topP: 0.95, topK: 0, stop: [], seed: 42, topLogprobs: 0 },
  };
  const tokens = [{ id: 5, logprob: -0.25 }, { id: 9, logprob: -1.5 }, { id: 7, logprob: -0.125 }];
  return { tab: worker.tab, task, tokens, end: { finishReason: 'stop', ...end } };
}

const audits = (t: TestTab) => t.link.ofType('audit');
const lastAudit = (t: TestTab): Audit => {
  const audit = audits(t).at(-1);
  if (!audit) throw new Error(`${t.tab.id} got no audit`);
  return audit;
};
function answer(desk: AuditDesk, verifier: TestTab, verdict: Verdict, audit = lastAudit(verifier)) {
  desk.handle(verifier.tab, { type: 'verdict', auditId: audit.auditId, transcriptSha256: audit.transcriptSha256, verdict, signature: verifier.identity.signVerdict(audit.auditId, audit.transcriptSha256, verdict) });
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
    const { desk, calls } = network();
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

  it('verdicts on planted transcripts earn the same, with the planted copy’s token counts, and decide no job', () => {
    const { desk, calls } = network({ random: () => 0.99 });
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

    // A lazy verifier approving its planted copy is heard too (it cannot tell planted from real, so it earns alike).
    const lazy = openTab([MODEL], { proven: false });
    registry.remove(verifier.tab.id);
    desk.tabClosed(verifier.tab);
    desk.jobCompleted(completedJob(worker, { promptTokens: 5, completionTokens: 2 }));
    answer(desk, lazy, PASS);
    const lazyPlanted = lastAudit(lazy);
    answer(desk, lazy, PASS, lazyPlanted);
    expect(calls.verdicts.at(-1)).toMatchObject({ auditId: lazyPlanted.auditId, verifierId: lazy.identity.contributorId, promptTokens: expect.any(Number), completionTokens: expect.any(Number) });
    expect(calls.verdicts).toHaveLength(4);
    expect(calls.decided).toHaveLength(1); // the second job waits for a trusted verifier
  });

  it('a conviction names the failing verifiers; a split decided by a third pass names none', () => {
    const { desk, calls } = network();
    const worker = openTab();
    const tabs = [openTab(), openTab(), openTab()];
    const answered = new Set<TestTab>();
    const judge = (verdict: Verdict) => {
      const verifier = holder(tabs, answered);
      answered.add(verifier);
      answer(desk, verifier, verdict);
      return verifier.identity.contributorId;
    };

    const convicted = completedJob(worker);
    desk.jobCompleted(convicted);
    const first = judge(FAIL);
    const second = judge(FAIL);
    expect(calls.decided).toEqual([{ jobId: convicted.task.jobId, workerId: worker.identity.contributorId, status: 'convicted', convictedBy: [first, second] }]);
    expect(calls.verdicts.map((v) => v.verifierId)).toEqual([first, second]);

    answered.clear();
    for (const t of tabs) t.link.sent.length = 0;
    const split = completedJob(worker);
    desk.jobCompleted(split);
    judge(FAIL);
    judge(PASS);
    judge(PASS);
    expect(calls.decided.at(-1)).toEqual({ jobId: split.task.jobId, workerId: worker.identity.contributorId, status: 'passed', convictedBy: [] });
    expect(calls.verdicts).toHaveLength(5);

    // Fail, pass, fail: convicted by the two who failed it, not the one who passed it.
    answered.clear();
    for (const t of tabs) t.link.sent.length = 0;
    const majority = completedJob(worker);
    desk.jobCompleted(majority);
    const a = judge(FAIL);
    judge(PASS);
    const c = judge(FAIL);
    expect(calls.decided.at(-1)).toEqual({ jobId: majority.task.jobId, workerId: worker.identity.contributorId, status: 'convicted', convictedBy: [a, c] });
  });

  it('a failing verifier no longer trusted is not among those who convicted', () => {
    const { desk, calls } = network();
    const worker = openTab();
    const tabs = [openTab(), openTab(), openTab()];
    const answered = new Set<TestTab>();
    const judge = (verdict: Verdict) => {
      const verifier = holder(tabs, answered);
      answered.add(verifier);
      answer(desk, verifier, verdict);
      return verifier.identity.contributorId;
    };
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
    const { desk, calls } = network();
    const worker = openTab();
    const [a, b] = [openTab(), openTab()];
    const job = completedJob(worker);
    desk.jobCompleted(job);
    const [given, other] = audits(a).length ? [a, b] : [b, a];
    const audit = lastAudit(given);
    desk.handle(other.tab, { type: 'verdict', auditId: audit.auditId, transcriptSha256: audit.transcriptSha256, verdict: PASS, signature: other.identity.signVerdict(audit.auditId, audit.transcriptSha256, PASS) });
    desk.handle(given.tab, { type: 'verdict', auditId: audit.auditId, transcriptSha256: audit.transcriptSha256, verdict: PASS, signature: given.identity.signVerdict(audit.auditId, audit.transcriptSha256, FAIL) });
    expect(calls.verdicts).toEqual([]);
    desk.handle(other.tab, { type: 'audit-failed', auditId: audit.auditId, reason: 'model_not_loaded', message: 'no model' });
    expect(calls).toEqual({ verdicts: [], decided: [] });
  });

  it('an audit no verifier judged in time is decided unverified, with no one convicting', () => {
    const { desk, calls } = network({ pendingTimeoutMs: 1000 });
    const worker = openTab();
    const job = completedJob(worker);
    desk.jobCompleted(job);
    clock = 1001;
    desk.pump();
    expect(calls.decided).toEqual([{ jobId: job.task.jobId, workerId: worker.identity.contributorId, status: 'unverified', convictedBy: [] }]);
    expect(calls.verdicts).toEqual([]);
  });

  it("a worker's audit beyond its cap of open audits is decided unverified at once", () => {
    const { desk, calls } = network();
    const flooder = openTab();
    const flood = Array.from({ length: 201 }, () => completedJob(flooder));
    for (const job of flood) desk.jobCompleted(job);
    expect(calls.decided).toEqual([{ jobId: flood[200]?.task.jobId, workerId: flooder.identity.contributorId, status: 'unverified', convictedBy: [] }]);
  });
});
