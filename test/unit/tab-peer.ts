/**
 * Test-side stand-ins for the far end of a tab link: a `Link` that records what the coordinator sends (and can
 * react to it), the `hello` frame a contributor tab opens with, and the `tokens` messages it streams.
 */
import type { Link } from '../../coordinator/transport/link.ts';
import { TAB_PROTOCOL_VERSION, type Backend, type CoordinatorToTab, type TabToCoordinator, type TokenCandidate, type TokenEntry } from '../../src/protocol/tab.ts';

/**
 * Records what the coordinator sends and every `close` call. Like the WebSocket link, it drops (without recording)
 * whatever is sent after it was closed, so a message sent after `close` is missing from `sent`.
 */
export class RecordingLink implements Link {
  readonly kind = 'websocket' as const;
  readonly sent: CoordinatorToTab[] = [];
  /** The reason of each `close` call, in order. */
  readonly closes: string[] = [];

  /** `onSend` runs after each message is recorded; a scripted tab uses it to answer tasks. */
  constructor(private readonly onSend: (message: CoordinatorToTab) => void = () => {}) {}

  get closed(): boolean {
    return this.closes.length > 0;
  }

  send(message: CoordinatorToTab): void {
    if (this.closed) return;
    this.sent.push(message);
    this.onSend(message);
  }

  close(reason: string): void {
    this.closes.push(reason);
  }

  ofType<T extends CoordinatorToTab['type']>(type: T): Array<Extract<CoordinatorToTab, { type: T }>> {
    return this.sent.filter((m): m is Extract<CoordinatorToTab, { type: T }> => m.type === type);
  }
}

export function helloMessage(models: string[], backend: Backend = 'wasm'): Extract<TabToCoordinator, { type: 'hello' }> {
  return { type: 'hello', protocol: TAB_PROTOCOL_VERSION, backend, adapter: null, limits: null, models };
}

export const helloFrame = (models: string[], backend: Backend = 'wasm'): string => JSON.stringify(helloMessage(models, backend));

export type TokensMessage = Extract<TabToCoordinator, { type: 'tokens' }>;

const candidate = (id: number, token: string, logprob: number): TokenCandidate => ({ id, token, bytes: [...new TextEncoder().encode(token)], logprob });

/**
 * The token at `index` of a completion, as a tab reports it: its own candidate has id `10 + index` and logprob
 * `-0.5 - index`; each alternative in `top` gets id `200 + i`. `top` may be a count of made-up alternatives.
 */
export function tokenEntry(index: number, text = `t${index}`, top: Array<{ token: string; logprob: number }> | number = []): TokenEntry {
  const alternatives = typeof top === 'number' ? Array.from({ length: top }, (_, i) => ({ token: `alt${i}`, logprob: -3 - i })) : top;
  return { index, token: candidate(10 + index, text, -0.5 - index), text, top: alternatives.map((t, i) => candidate(200 + i, t.token, t.logprob)) };
}

/** A `tokens` message carrying `entries` in the order given (the wire allows 1..MAX_TOKENS_PER_MESSAGE of them). */
export const tokensMessage = (jobId: string, entries: TokenEntry[]): TokensMessage => ({ type: 'tokens', jobId, tokens: entries });
