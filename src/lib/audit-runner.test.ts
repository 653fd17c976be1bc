import { describe, expect, it, vi } from 'vitest';
import { AuditRunner, type AuditRunnerDeps } from './audit-runner.ts';
import { auditTranscriptOf } from '../protocol/mesh.ts';
import { toHex, transcriptOf } from '../protocol/identity.ts';
import { sha256 } from '../../coordinator/identity/ed25519.ts';
import { verdictSchema, type CoordinatorToTab, type TabToCoordinator, type Verdict } from '../protocol/tab.ts';

const TOLERANCES = { epsilon: 1e-3, delta: 1e-3, tau: 1e-3 };
const task = { jobId: 'job-1', model: 'dolphin-tiny', messages: [{ role: 'user' as const, content: 'hi' }], params: { maxTokens: 4, temperature: 0.8, topP: 1, topK: 0, stop: [], seed: 3, topLogprobs: 0 } };
const tokens = [{ id: 5, logprob: -0.5 }, { id: 6, logprob: -1.25 }];
const end = { finishReason: 'stop' as const, promptTokens: 5, completionTokens: 3 };
const SHA = toHex(sha256(transcriptOf(task, tokens, end)));
const FAIL: Verdict = { ok: false, firstFailure: { position: 1, reason: 'logprob_mismatch' }, maxIntervalDistance: 0, maxLogitGap: 0, maxLogprobDeviation: 0.4 };

const payload = (auditId: string, t = tokens) => JSON.stringify(auditTranscriptOf(auditId, task, t, end));
const audit = (auditId: string, extra: Partial<Extract<CoordinatorToTab, { type: 'audit' }>> = {}): Extract<CoordinatorToTab, { type: 'audit' }> => ({ type: 'audit', auditId, model: 'dolphin-tiny', transcriptSha256: SHA, tolerances: TOLERANCES, timeoutMs: 120_000, ...extra });

function runner(options: Partial<AuditRunnerDeps> = {}) {
  const sent: TabToCoordinator[] = [];
  const expected: string[] = [];
  const rescore = vi.fn(async () => FAIL);
  const deps: AuditRunnerDeps = { rescore, signVerdict: async (id, sha, v) => `signed:${id}:${sha.slice(0, 4)}:${v.ok}`, send: (m) => sent.push(m), expectPeer: (p) => expected.push(p), log: () => {}, transcriptWaitMs: 200, ...options };
  const answered = () => vi.waitFor(() => expect(sent.length).toBeGreaterThan(0));
  return { runner: new AuditRunner(deps), sent, expected, rescore, answered };
}

describe('AuditRunner', () => {
  it('re-scores an inline transcript with the audit tolerances and sends a signed verdict', async () => {
    const t = runner();
    t.runner.audit(audit('a1', { transcript: payload('a1') }));
    await t.answered();
    expect(t.rescore).toHaveBeenCalledWith({ model: 'dolphin-tiny', messages: task.messages, params: task.params, tokens: tokens.map((x) => ({ ...x, top: [] })), finishReason: 'stop', completionTokens: 3, promptTokens: 5, tolerances: TOLERANCES });
    expect(t.sent).toEqual([{ type: 'verdict', auditId: 'a1', transcriptSha256: SHA, verdict: FAIL, signature: `signed:a1:${SHA.slice(0, 4)}:false` }]);
  });

  it('re-scores a continued job with the prefix its worker was given, which its transcript names', async () => {
    const t = runner();
    const continued = { ...task, prefix: [9, 10] };
    const sha = toHex(sha256(transcriptOf(continued, tokens, end)));
    expect(sha).not.toBe(SHA);
    t.runner.audit(audit('p1', { transcriptSha256: sha, transcript: JSON.stringify(auditTranscriptOf('p1', continued, tokens, end)) }));
    await t.answered();
    expect(t.rescore).toHaveBeenCalledWith(expect.objectContaining({ prefix: [9, 10], tokens: tokens.map((x) => ({ ...x, top: [] })) }));
    expect(t.sent[0]).toMatchObject({ type: 'verdict', auditId: 'p1', transcriptSha256: sha });
  });

  it('takes a mesh transcript only from the named peer, including one that came before its audit', async () => {
    const t = runner();
    t.runner.audit(audit('a2', { from: 'peerA' }));
    expect(t.expected).toEqual(['peerA']);
    expect(t.runner.payload('peerB', new TextEncoder().encode(payload('a2')))).toBe(true); // kept, not used for a2
    expect(t.runner.payload('peerA', new TextEncoder().encode(payload('a2')))).toBe(true);
    await t.answered();
    expect(t.sent[0]).toMatchObject({ type: 'verdict', auditId: 'a2' });

    const early = runner();
    early.runner.payload('peerC', new TextEncoder().encode(payload('a3')));
    early.runner.audit(audit('a3', { from: 'peerC' }));
    await early.answered();
    expect(early.sent[0]).toMatchObject({ type: 'verdict', auditId: 'a3' });
    expect(early.runner.stats).toMatchObject({ mesh: 1, verdicts: 1 });
  });

  it('says the transcript is missing when none came in time', async () => {
    const missing = runner();
    missing.runner.audit(audit('a4', { from: 'peerA' }));
    await missing.answered();
    expect(missing.sent[0]).toMatchObject({ type: 'audit-failed', auditId: 'a4', reason: 'transcript_missing' });
  });

  it('ignores a copy that is not the transcript named, and judges the right one that comes after it', async () => {
    // A worker dodging its audit: it sends the verifier an altered copy over the mesh, while the coordinator's own
    // copy comes inline.
    const t = runner();
    const altered = payload('a5', [{ id: 5, logprob: -0.4 }, tokens[1] as { id: number; logprob: number }]);
    t.runner.audit(audit('a5', { from: 'peerA' }));
    t.runner.payload('peerA', new TextEncoder().encode(altered));
    await vi.waitFor(() => expect(t.runner.stats.refused).toBe(1));
    expect(t.sent).toEqual([]);
    t.runner.audit(audit('a5', { transcript: payload('a5') }));
    await t.answered();
    expect(t.sent[0]).toMatchObject({ type: 'verdict', auditId: 'a5' });
    expect(t.runner.stats).toMatchObject({ inline: 1, mesh: 0, refused: 1 });
  });

  it('gives up on a re-scoring that hangs, and goes on with the next audit', async () => {
    let calls = 0;
    const t = runner({ rescore: () => (++calls === 1 ? new Promise<Verdict>(() => {}) : Promise.resolve(FAIL)) });
    t.runner.audit(audit('a8', { transcript: payload('a8'), timeoutMs: 1000 }));
    t.runner.audit(audit('a9', { transcript: payload('a9') }));
    await vi.waitFor(() => expect(t.sent).toHaveLength(2));
    expect(t.sent[0]).toMatchObject({ type: 'audit-failed', auditId: 'a8', reason: 'worker_error' });
    expect(t.sent[1]).toMatchObject({ type: 'verdict', auditId: 'a9' });
  });

  it('reports a worker that cannot re-score (e.g. the model is not loaded) as audit-failed', async () => {
    const t = runner({ rescore: async () => Promise.reject(Object.assign(new Error('model dolphin-tiny is not loaded'), { name: 'model_not_loaded' })) });
    t.runner.audit(audit('a6', { transcript: payload('a6') }));
    await t.answered();
    expect(t.sent[0]).toMatchObject({ type: 'audit-failed', reason: 'model_not_loaded' });
  });

  it('judges an audit once: a resend after the verdict is ignored, a resend after it gave up waiting starts afresh', async () => {
    const t = runner();
    t.runner.audit(audit('b1', { transcript: payload('b1') }));
    await t.answered();
    t.runner.audit(audit('b1', { transcript: payload('b1') }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(t.rescore).toHaveBeenCalledTimes(1);

    const late = runner();
    late.runner.audit(audit('b2', { from: 'peerA' }));
    await late.answered(); // transcript_missing after the wait
    late.runner.audit(audit('b2', { transcript: payload('b2') }));
    await vi.waitFor(() => expect(late.sent.map((m) => m.type)).toEqual(['audit-failed', 'verdict']));
  });

  it('approves, or rejects, without re-scoring when built as a blind verifier (test hooks)', async () => {
    for (const [blindVerdict, ok] of [['approve', true], ['reject', false]] as const) {
      const t = runner({ blindVerdict });
      t.runner.audit(audit('a7', { transcript: payload('a7') }));
      await t.answered();
      expect(t.rescore).not.toHaveBeenCalled();
      expect(t.sent[0]).toMatchObject({ type: 'verdict', verdict: { ok } });
      expect(verdictSchema.safeParse((t.sent[0] as { verdict: unknown }).verdict).success).toBe(true);
    }
  });
});
