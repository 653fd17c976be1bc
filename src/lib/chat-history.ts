/** A chat transcript's turns and what of it is sent as the next request's history. */
import type { PlainMessage } from '../protocol/api.ts';

export type Turn = PlainMessage & { backend?: string | null; seed?: number | null; error?: string; stopped?: boolean };

/**
 * The messages to send for a new user message after `turns`. Failed exchanges (a question and its failed reply)
 * stay on screen but are not sent again; a stopped reply is sent as far as it got.
 */
export function historyFor(turns: ReadonlyArray<PlainMessage & { error?: string }>, content: string): PlainMessage[] {
  const answered = turns.filter((t, i) => !t.error && !(t.role === 'user' && turns[i + 1]?.error));
  return [...answered.map(({ role, content }) => ({ role, content })), { role: 'user', content }];
}
