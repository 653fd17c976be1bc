/**
 * An audit desk over its own registry and audit book, a clock the test sets, and ready tabs standing in for
 * workers and verifiers (recording links, real identities): the setup of the audit desk's tests.
 */
import type { CoordinatorToTab, TaskMessage, Verdict } from '../../src/protocol/tab.ts';
import { TabRegistry, type Tab } from '../../coordinator/tabs/tab-registry.ts';
import { AuditBook } from '../../coordinator/trust/audit-book.ts';
import { AuditDesk, type AuditListener, type CompletedJob } from '../../coordinator/trust/audit-desk.ts';
import type { AuditPolicy } from '../../coordinator/trust/audit-policy.ts';
import { RecordingLink, TestIdentity } from './tab-peer.ts';

export const MODEL = 'dolphin-tiny';
export const TOLERANCES = { epsilon: 1e-3, delta: 1e-3, tau: 1e-3 };
export const PASS: Verdict = { ok: true, firstFailure: null, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 1e-6 };
export const FAIL: Verdict = { ok: false, firstFailure: { position: 2, reason: 'logprob_mismatch' }, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 0.7 };

export type Audit = Extract<CoordinatorToTab, { type: 'audit' }>;

export interface TestTab {
  tab: Tab;
  link: RecordingLink;
  identity: TestIdentity;
}

export interface AuditDeskHarnessOptions {
  policy?: AuditPolicy;
  plantRate?: number;
  random?: () => number;
  pendingTimeoutMs?: number;
  listener?: AuditListener;
}

// Numbered across the test file, as each file gets its own copy of this module.
let jobs = 0;
let nextPeer = 1;

/**
 * A desk (probation 3, pMin 0.05 unless `policy` says otherwise; verdicts time out after 60 s) whose log lines are
 * kept in `logs` and whose clock reads `clock.now` (0 at first).
 */
export function auditDeskHarness(options: AuditDeskHarnessOptions = {}) {
  const registry = new TabRegistry();
  const policy = options.policy ?? { probation: 3, pMin: 0.05 };
  const book = new AuditBook(policy);
  const clock = { now: 0 };
  const logs: string[] = [];
  const desk = new AuditDesk({
    ...(options.listener ? { listener: options.listener } : {}),
    registry,
    book,
    policy,
    tolerances: TOLERANCES,
    plantRate: options.plantRate ?? 0,
    random: options.random ?? (() => 0.5),
    verdictTimeoutMs: 60_000,
    pendingTimeoutMs: options.pendingTimeoutMs ?? 600_000,
    now: () => clock.now,
    log: (line) => logs.push(line),
  });

  /** Records that this identity rejected a planted known-bad transcript (as if it had been tested before). */
  const prove = (contributorId: string) => {
    book.plantedSent();
    book.plantedJudged(contributorId, false, 'known-bad');
  };
  /** Records that this identity approved a planted known-good transcript (as if it had been tested before). */
  const proveFair = (contributorId: string) => {
    book.plantedSent();
    book.plantedJudged(contributorId, true, 'known-good');
  };

  /**
   * A ready tab serving `models`, with a mesh peer unless `peer` is false; `identity` may be shared with another tab.
   * Its identity is a proven verifier (it once rejected a planted known-bad transcript) unless `proven` is false, and
   * a fair one (it once approved a planted known-good transcript) unless `fair` is false.
   */
  const openTab = (models = [MODEL], tabOptions: { identity?: TestIdentity; peer?: boolean; proven?: boolean; fair?: boolean } = {}): TestTab => {
    const link = new RecordingLink();
    const identity = tabOptions.identity ?? new TestIdentity();
    if (tabOptions.proven !== false && !tabOptions.identity) prove(identity.contributorId);
    if (tabOptions.fair !== false && !tabOptions.identity) proveFair(identity.contributorId);
    const tab = registry.add(link);
    Object.assign(tab, { ready: true, contributorId: identity.contributorId, publicKey: identity.publicKey, backend: 'wasm', models, peerId: tabOptions.peer === false ? null : `peer${nextPeer++}` });
    return { tab, link, identity };
  };

  return { desk, registry, book, clock, logs, prove, proveFair, openTab };
}

export type AuditDeskHarness = ReturnType<typeof auditDeskHarness>;

/** `net` with a worker's job audited and two verifiers around: `given` got the audit, `other` did not (yet). */
export function auditWithTwoVerifiers<H extends AuditDeskHarness>(net: H) {
  const worker = net.openTab();
  const [a, b] = [net.openTab(), net.openTab()];
  const job = completedJob(worker);
  net.desk.jobCompleted(job);
  const [given, other] = audits(a).length ? [a, b] : [b, a];
  return { ...net, worker, job, given, other };
}

/** A finished job of `worker`'s: three tokens, and the token counts its `done` reported. */
export function completedJob(worker: TestTab, end: { promptTokens: number; completionTokens: number } = { promptTokens: 6, completionTokens: 4 }): CompletedJob {
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

export const audits = (t: TestTab) => t.link.ofType('audit');

export function lastAudit(t: TestTab): Audit {
  const audit = audits(t).at(-1);
  if (!audit) throw new Error(`${t.tab.id} got no audit`);
  return audit;
}

/** `verifier` answers `audit` (its latest unless named) with `verdict`, signed by its identity. */
export function answer(desk: AuditDesk, verifier: TestTab, verdict: Verdict, audit = lastAudit(verifier)) {
  desk.handle(verifier.tab, { type: 'verdict', auditId: audit.auditId, transcriptSha256: audit.transcriptSha256, verdict, signature: verifier.identity.signVerdict(audit.auditId, audit.transcriptSha256, verdict) });
}
