/**
 * What the contribute page, running in the widget's "lend my GPU" frame (`/?embed=1`), tells the embedding page by
 * `postMessage` whenever it changes. Nothing in it is secret (any page may embed the frame); the widget accepts it
 * only from its own frame's window and checks its shape with `contributorStatusOf`.
 */
export interface ContributorStatusMessage {
  type: 'dolphin-contributor';
  phase: 'idle' | 'loading' | 'connecting' | 'serving' | 'stopped' | 'error';
  jobsServed: number;
  /** The coordinator's name for the tab while it is connected. */
  tabId: string | null;
  backend: 'webgpu' | 'wasm' | null;
  error: string | null;
}

const PHASES: ReadonlyArray<ContributorStatusMessage['phase']> = ['idle', 'loading', 'connecting', 'serving', 'stopped', 'error'];

/** The message when `data` is a well-formed status, else null. Hand-written: the widget's bundle carries no zod. */
export function contributorStatusOf(data: unknown): ContributorStatusMessage | null {
  if (typeof data !== 'object' || data === null) return null;
  const m = data as Record<string, unknown>;
  const stringOrNull = (v: unknown) => v === null || (typeof v === 'string' && v.length <= 500);
  if (m.type !== 'dolphin-contributor' || !PHASES.includes(m.phase as ContributorStatusMessage['phase'])) return null;
  if (!Number.isSafeInteger(m.jobsServed) || (m.jobsServed as number) < 0) return null;
  if (!stringOrNull(m.tabId) || !stringOrNull(m.error) || !(m.backend === null || m.backend === 'webgpu' || m.backend === 'wasm')) return null;
  return { type: 'dolphin-contributor', phase: m.phase as ContributorStatusMessage['phase'], jobsServed: m.jobsServed as number, tabId: m.tabId as string | null, backend: m.backend as ContributorStatusMessage['backend'], error: m.error as string | null };
}
