/**
 * What a contributor tab signs, byte for byte, and how its id follows from its key. Both ends build the signed
 * bytes with these functions; the tab signs with WebCrypto (src/lib/identity.ts), the coordinator verifies with
 * node:crypto (coordinator/identity/ed25519.ts).
 *
 *  - Identity: an Ed25519 key pair per browser profile. Contributor id = the first 20 bytes of SHA-256(raw public
 *    key), in hex.
 *  - Authentication: the coordinator's `welcome` carries a fresh random challenge; `hello` carries the public key
 *    and a signature over AUTH_CONTEXT + challenge. A signature from another session (another challenge) or by
 *    another key does not verify.
 *  - Results: `done` carries a signature over RESULT_CONTEXT + SHA-256(transcript), where the transcript is the
 *    task, every token the tab streamed (id, logprob, and the alternatives' ids and logprobs) and how it ended.
 *    The coordinator hashes what it sent and received itself, so the signature binds the tab to exactly that.
 *  - Verdicts: a verifier's `verdict` carries a signature over VERDICT_CONTEXT + SHA-256(verdictStatementOf(...)):
 *    the audit, the hash of the transcript it judged and its verdict with the evidence.
 */
import type { PlainMessage } from './api.ts';
import type { SamplingParams, Verdict } from './tab.ts';

export const AUTH_CONTEXT = 'dolphin-tab-auth-v1:';
export const RESULT_CONTEXT = 'dolphin-result-v1:';
export const VERDICT_CONTEXT = 'dolphin-verdict-v1:';
export const ACCOUNT_CONTEXT = 'dolphin-account-v1:';
export const CONTRIBUTOR_ID_BYTES = 20;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

const utf8 = new TextEncoder();

export function authMessage(challenge: string): Uint8Array {
  return utf8.encode(AUTH_CONTEXT + challenge);
}

/** What a worker signs for a finished job: RESULT_CONTEXT + SHA-256(transcript). */
export const resultMessage = (transcriptDigest: Uint8Array): Uint8Array => contextAnd(RESULT_CONTEXT, transcriptDigest);
/** What a verifier signs for an audit: VERDICT_CONTEXT + SHA-256(verdict statement). */
export const verdictMessage = (statementDigest: Uint8Array): Uint8Array => contextAnd(VERDICT_CONTEXT, statementDigest);
/** What a contributor signs to act on its DPHN (stake, unstake): ACCOUNT_CONTEXT + SHA-256(accountStatementOf(...)). */
export const accountActionMessage = (statementDigest: Uint8Array): Uint8Array => contextAnd(ACCOUNT_CONTEXT, statementDigest);

function contextAnd(context: string, digest: Uint8Array): Uint8Array {
  const prefix = utf8.encode(context);
  const out = new Uint8Array(prefix.length + digest.length);
  out.set(prefix);
  out.set(digest, prefix.length);
  return out;
}

export interface TranscriptTask {
  jobId: string;
  model: string;
  messages: PlainMessage[];
  params: SamplingParams;
  /** A continued job's tokens that another tab produced (failover); this transcript's tokens follow them. */
  prefix?: readonly number[];
}

/** A streamed token as the transcript records it: its id and log-probability, and the alternatives reported with it. */
export interface TranscriptToken {
  id: number;
  logprob: number;
  top?: ReadonlyArray<{ id: number; logprob: number }>;
}

export interface TranscriptEnd {
  finishReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
}

/**
 * The canonical transcript of a finished job: a JSON array in a fixed order, so both ends produce the same string
 * from the same values (numbers as JSON.stringify writes them).
 */
export function transcriptOf(task: TranscriptTask, tokens: ReadonlyArray<TranscriptToken>, end: TranscriptEnd): string {
  const p = task.params;
  return JSON.stringify([
    'dolphin-transcript-v3',
    task.jobId,
    task.model,
    task.messages.map((m) => [m.role, m.content]),
    [p.maxTokens, p.temperature, p.topP, p.topK, p.stop, p.seed, p.topLogprobs],
    task.prefix ?? [],
    tokens.map((t) => [t.id, t.logprob, (t.top ?? []).map((a) => [a.id, a.logprob])]),
    [end.finishReason, end.promptTokens, end.completionTokens],
  ]);
}

/** The canonical statement a verifier signs: which audit, which transcript (by hash), and its verdict with evidence. */
export function verdictStatementOf(auditId: string, transcriptSha256: string, v: Verdict): string {
  const failure = v.firstFailure ? [v.firstFailure.position, v.firstFailure.reason] : null;
  return JSON.stringify(['dolphin-verdict-v1', auditId, transcriptSha256, v.ok, failure, v.maxIntervalDistance, v.maxLogitGap, v.maxLogprobDeviation]);
}

/** The canonical statement of a contributor's action on its DPHN: what, whose, how much (µDPHN) and when (ms since epoch). */
export function accountStatementOf(action: string, contributorId: string, amount: number, at: number): string {
  return JSON.stringify(['dolphin-account-v1', action, contributorId, amount, at]);
}

export function contributorIdOf(publicKeyDigest: Uint8Array): string {
  return toHex(publicKeyDigest.subarray(0, CONTRIBUTOR_ID_BYTES));
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** Decodes base64url (no padding); null when the text is not base64url. */
export function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Length in base64url characters (no padding) of `bytes` bytes. */
export const base64UrlLength = (bytes: number): number => Math.ceil((bytes * 4) / 3);
