import { describe, expect, it } from 'vitest';
import { watchAudit } from './audit-watch.ts';
import type { AuditView } from './answer-stats.ts';

/** A fake audit API answering `answers` in turn; records what was asked. */
function api(answers: Array<{ status: number; body?: unknown } | Error>) {
  const asked: string[] = [];
  const fetch = async (url: string) => {
    asked.push(url);
    const answer = answers[asked.length - 1];
    if (!answer) throw new Error('asked too often');
    if (answer instanceof Error) throw answer;
    return { status: answer.status, json: async () => answer.body };
  };
  return { asked, fetch };
}

const instant = async () => {};

describe('watchAudit', () => {
  it('asks until the audit is decided, and no more', async () => {
    const { asked, fetch } = api([{ status: 404 }, { status: 404 }, { status: 200, body: { status: 'passed', verdicts: [{}] } }]);
    const views: AuditView[] = [];
    await watchAudit('chatcmpl-1/x', (v) => views.push(v), { fetch, sleep: instant, delays: [1, 1, 1, 1, 1] });
    expect(asked).toEqual(['/api/audits/jobs/chatcmpl-1%2Fx', '/api/audits/jobs/chatcmpl-1%2Fx', '/api/audits/jobs/chatcmpl-1%2Fx']);
    expect(views).toEqual([{ state: 'undecided' }, { state: 'undecided' }, { state: 'decided', status: 'passed', verdicts: 1 }]);
  });

  it('gives up after its delays, saying none was decided', async () => {
    const { asked, fetch } = api([{ status: 404 }, { status: 404 }]);
    const views: AuditView[] = [];
    const waited: number[] = [];
    await watchAudit('j', (v) => views.push(v), { fetch, sleep: async (ms) => void waited.push(ms), delays: [10, 20] });
    expect(waited).toEqual([10, 20]);
    expect(asked).toHaveLength(2);
    expect(views.at(-1)).toEqual({ state: 'none' });
  });

  it('stops at an error, naming it', async () => {
    const { fetch } = api([new Error('offline')]);
    const views: AuditView[] = [];
    await watchAudit('j', (v) => views.push(v), { fetch, sleep: instant, delays: [1, 1] });
    expect(views).toEqual([{ state: 'error', message: 'offline' }]);
  });

  it('reports nothing once stopped', async () => {
    const { asked, fetch } = api([{ status: 404 }]);
    const stop = new AbortController();
    stop.abort();
    const views: AuditView[] = [];
    await watchAudit('j', (v) => views.push(v), { fetch, sleep: instant, signal: stop.signal });
    expect(asked).toEqual([]);
    expect(views).toEqual([]);
  });
});
