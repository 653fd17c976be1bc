/**
 * Switches that exist only in test-hooks builds (`npm run build:test-hooks`, Vite mode `test-hooks`), for
 * end-to-end tests of the audits (issue #4). Vite replaces `import.meta.env.MODE` when it builds, so in every
 * other build these return null and the checks behind them are dropped.
 */
import { cheatModeSchema, type CheatMode } from '../protocol/worker.ts';

/** `?cheat=<mode>`: how this tab cheats, or null. An unknown mode throws, so a test's typo cannot pass as honest. */
export function cheatFromQuery(query: URLSearchParams): CheatMode | null {
  if (import.meta.env.MODE !== 'test-hooks') return null;
  const mode = query.get('cheat');
  if (mode === null) return null;
  const parsed = cheatModeSchema.safeParse(mode);
  if (!parsed.success) throw new Error(`?cheat=${mode} is not a cheating mode (${cheatModeSchema.options.join(', ')})`);
  return parsed.data;
}

/**
 * The verdict this tab signs on every audit without re-scoring (the `approve-everything` and `reject-everything`
 * cheats), or null to judge honestly; always null outside test-hooks builds.
 */
export function blindVerdictOf(cheat: CheatMode | null): 'approve' | 'reject' | null {
  if (import.meta.env.MODE !== 'test-hooks') return null;
  return cheat === 'approve-everything' ? 'approve' : cheat === 'reject-everything' ? 'reject' : null;
}
