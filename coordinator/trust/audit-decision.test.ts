import { describe, expect, it } from 'vitest';
import { auditDecision, knownGoodTranscript, plantedTranscript } from './audit-decision.ts';

describe('auditDecision', () => {
  // P: a pass from a proven verifier, p: from an unproven one, f: a failure from a fair verifier, x: from one not
  // known to be fair.
  const verdicts = (s: string) => [...s].map((c) => ({ ok: c === 'p' || c === 'P', proven: c === 'P', fair: c === 'f' }));
  it.each([
    ['', 'undecided'],
    ['P', 'passed'],
    ['p', 'undecided'],
    ['pp', 'passed'],
    ['f', 'undecided'],
    ['ff', 'convicted'],
    ['fP', 'undecided'],
    ['fPP', 'passed'],
    ['fpp', 'passed'],
    ['fPf', 'convicted'],
    ['pff', 'convicted'],
    ['pfp', 'passed'],
    ['xx', 'undecided'],
    ['fx', 'undecided'],
    ['xP', 'undecided'],
    ['xPP', 'passed'],
    ['xfx', 'undecided'],
    ['xff', 'convicted'],
    ['fxf', 'convicted'],
    ['Pxf', 'undecided'],
  ] as const)('%s -> %s', (s, expected) => {
    expect(auditDecision(verdicts(s))).toBe(expected);
  });

  it('decides every sequence of three verdicts from fair verifiers', () => {
    for (const a of 'pPf') for (const b of 'pPf') for (const c of 'pPf') expect(auditDecision(verdicts(a + b + c)), a + b + c).not.toBe('undecided');
  });

  it('never convicts on failures of verifiers not known to be fair, however many', () => {
    for (const a of 'pPx') for (const b of 'pPx') for (const c of 'pPfx') expect(auditDecision(verdicts(a + b + c)), a + b + c).not.toBe('convicted');
  });
});

describe('plantedTranscript', () => {
  const source = {
    task: { jobId: 'job-1', model: 'm', messages: [{ role: 'user' as const, content: 'hi' }], params: { maxTokens: 4, temperature: 0.8, topP: 1, topK: 0, stop: [], seed: 1, topLogprobs: 0 } },
    tokens: [{ id: 1, logprob: -0.1 }, { id: 2, logprob: -2 }, { id: 3, logprob: -0.5 }],
    end: { finishReason: 'length' as const, promptTokens: 3, completionTokens: 3 },
  };

  it('lowers exactly one logprob by 0.5 to 1.5 nats under a new job id, and changes nothing in the source', () => {
    for (const draw of [0, 0.3, 0.99]) {
      const planted = plantedTranscript(source, 'job-2', () => draw);
      if (!planted) throw new Error('nothing planted');
      expect(planted.task).toEqual({ ...source.task, jobId: 'job-2' });
      const changed = planted.tokens.flatMap((t, i) => (t.logprob !== source.tokens[i]?.logprob ? [source.tokens[i]!.logprob - t.logprob] : []));
      expect(changed).toHaveLength(1);
      expect(changed[0]).toBeGreaterThanOrEqual(0.5);
      expect(changed[0]).toBeLessThan(1.5);
      expect(planted.tokens.map((t) => t.id)).toEqual([1, 2, 3]);
    }
    expect(source.tokens[0]?.logprob).toBe(-0.1);
    expect(plantedTranscript({ ...source, tokens: [] }, 'job-3', Math.random)).toBeNull();
  });
});

describe('knownGoodTranscript', () => {
  it('copies the transcript under a new job id, sharing nothing with the source', () => {
    const source = {
      task: { jobId: 'job-1', model: 'm', messages: [{ role: 'user' as const, content: 'hi' }], params: { maxTokens: 4, temperature: 0.8, topP: 1, topK: 0, stop: [], seed: 1, topLogprobs: 0 } },
      tokens: [{ id: 1, logprob: -0.1 }, { id: 2, logprob: -2 }],
      end: { finishReason: 'length' as const, promptTokens: 3, completionTokens: 2 },
    };
    const good = knownGoodTranscript(source, 'job-9');
    expect(good).toEqual({ ...source, task: { ...source.task, jobId: 'job-9' } });
    expect(good.tokens[0]).not.toBe(source.tokens[0]);
    expect(source.task.jobId).toBe('job-1');
  });
});
