/**
 * Asks the audit API about an answer's job a few times after it ended (audits take seconds to minutes, or never
 * happen), reporting each answer, and stops once it is decided, the API fails, or the delays run out.
 */
import { auditSettled, auditViewOf, type AuditView } from './answer-stats.ts';

/** Waits before each ask: about half a minute in all. */
export const AUDIT_POLL_DELAYS_MS: readonly number[] = [1_000, 2_000, 4_000, 8_000, 15_000];

export interface AuditWatchOptions {
  fetch?: (url: string) => Promise<Pick<Response, 'status' | 'json'>>;
  delays?: readonly number[];
  sleep?: (ms: number) => Promise<void>;
  /** Stops the watch (the page went away); nothing more is reported. */
  signal?: AbortSignal;
}

export async function watchAudit(jobId: string, onView: (view: AuditView) => void, options: AuditWatchOptions = {}): Promise<void> {
  const get = options.fetch ?? ((url: string) => fetch(url));
  const delays = options.delays ?? AUDIT_POLL_DELAYS_MS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (const [i, delay] of delays.entries()) {
    await sleep(delay);
    if (options.signal?.aborted) return;
    let view: AuditView;
    try {
      const response = await get(`/api/audits/jobs/${encodeURIComponent(jobId)}`);
      view = auditViewOf(response.status, response.status === 200 ? await response.json() : null, i === delays.length - 1);
    } catch (error) {
      view = { state: 'error', message: error instanceof Error ? error.message : String(error) };
    }
    if (options.signal?.aborted) return;
    onView(view);
    if (auditSettled(view)) return;
  }
}
