/**
 * Test-side stand-ins for the far end of a tab link: a `Link` that records what the coordinator sends (and can
 * react to it), the `hello` frame a contributor tab opens with, the `tokens` messages it streams, and a tab's
 * identity that signs like the browser's (Ed25519, here with node:crypto).
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { Link } from '../../coordinator/transport/link.ts';
import { contributorIdFromPublicKey, sha256 } from '../../coordinator/identity/ed25519.ts';
import { accountActionMessage, accountStatementOf, authMessage, resultMessage, toBase64Url, transcriptOf, verdictMessage, verdictStatementOf, type TranscriptEnd, type TranscriptTask, type TranscriptToken } from '../../src/protocol/identity.ts';
import {
  parseTabMessage,
  TAB_PROTOCOL_VERSION,
  type Backend,
  type CoordinatorToTab,
  type IdentityProof,
  type TabToCoordinator,
  type TaskMessage,
  type TokenCandidate,
  type TokenEntry,
  type Verdict,
} from '../../src/protocol/tab.ts';

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

type Hello = Extract<TabToCoordinator, { type: 'hello' }>;

/** A `hello` without its identity proof; `signingTab` adds one for the session's challenge. */
export function helloMessage(models: string[], backend: Backend = 'wasm'): Omit<Hello, 'identity'> {
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

/** An Ed25519 identity that signs what a contributor tab signs (src/protocol/identity.ts). */
export class TestIdentity {
  readonly publicKey: string;
  readonly contributorId: string;
  private readonly privateKey: KeyObject;

  constructor() {
    const pair = generateKeyPairSync('ed25519');
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey.export({ format: 'jwk' }).x as string;
    this.contributorId = contributorIdFromPublicKey(this.publicKey);
  }

  sign(bytes: Uint8Array): string {
    return toBase64Url(sign(null, bytes, this.privateKey));
  }

  prove(challenge: string): IdentityProof {
    return { publicKey: this.publicKey, signature: this.sign(authMessage(challenge)) };
  }

  signResult(task: TranscriptTask, tokens: ReadonlyArray<TranscriptToken>, end: TranscriptEnd): string {
    return this.sign(resultMessage(sha256(transcriptOf(task, tokens, end))));
  }

  signVerdict(auditId: string, transcriptSha256: string, verdict: Verdict): string {
    return this.sign(verdictMessage(sha256(verdictStatementOf(auditId, transcriptSha256, verdict))));
  }

  /** A stake or unstake request body for the contributor API, signed at `at`. */
  accountAction(action: 'stake' | 'unstake', amount: number, at: number) {
    return { amount, at, publicKey: this.publicKey, signature: this.sign(accountActionMessage(sha256(accountStatementOf(action, this.contributorId, amount, at)))) };
  }
}

/**
 * Wraps a session's `receive` the way an honest tab completes its messages: a `hello` without `identity` gets a
 * proof for the challenge of the link's `welcome`; a `done` without `signature` gets a signature over the task (as
 * the link received it) and the tokens this tab sent for it. Anything else, including frames that are not JSON,
 * passes through unchanged.
 */
export function signingTab(link: RecordingLink, receive: (raw: unknown) => void, identity = new TestIdentity()) {
  const streamed = new Map<string, TranscriptToken[]>();
  const complete = (raw: unknown): unknown => {
    if (typeof raw !== 'string') return raw;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return raw;
    }
    if (message.type === 'hello' && !('identity' in message)) {
      const challenge = link.ofType('welcome')[0]?.challenge ?? '';
      return JSON.stringify({ ...message, identity: identity.prove(challenge) });
    }
    const parsed = parseTabMessage(raw);
    if (parsed.ok && parsed.message.type === 'tokens') {
      // Only what the coordinator accepts as a message is part of the transcript.
      const list = streamed.get(parsed.message.jobId) ?? [];
      for (const t of parsed.message.tokens) list.push({ id: t.token.id, logprob: t.token.logprob, top: t.top.map((a) => ({ id: a.id, logprob: a.logprob })) });
      streamed.set(parsed.message.jobId, list);
    }
    if (message.type === 'done' && !('signature' in message)) {
      const task: TaskMessage | undefined = link.ofType('task').find((t) => t.jobId === message.jobId);
      if (!task) return raw;
      const end = { finishReason: message.finishReason, promptTokens: message.promptTokens, completionTokens: message.completionTokens } as TranscriptEnd;
      return JSON.stringify({ ...message, signature: identity.signResult(task, streamed.get(task.jobId) ?? [], end) });
    }
    return raw;
  };
  return { identity, receive: (raw: unknown) => receive(complete(raw)) };
}
