/**
 * This browser's contributor identity: an Ed25519 key pair made with WebCrypto, its private key non-extractable,
 * kept in IndexedDB (idb) so the contributor id survives reloads. Every tab of the profile shares it. See
 * src/protocol/identity.ts for what is signed.
 */
import { openDB } from 'idb';
import { accountActionMessage, accountStatementOf, authMessage, contributorIdOf, resultMessage, toBase64Url, transcriptOf, verdictMessage, verdictStatementOf, type TranscriptEnd, type TranscriptTask, type TranscriptToken } from '../protocol/identity.ts';
import type { IdentityProof, Verdict } from '../protocol/tab.ts';

const DB_NAME = 'dolphin-identity';
const STORE = 'keys';
const KEY = 'ed25519';
const ED25519 = { name: 'Ed25519' } as const;

export interface ContributorIdentity {
  contributorId: string;
  /** Base64url raw public key. */
  publicKey: string;
  /** The `hello` proof for a session's challenge. */
  prove(challenge: string): Promise<IdentityProof>;
  /** The `done` signature over a finished job's transcript. */
  signResult(task: TranscriptTask, tokens: ReadonlyArray<TranscriptToken>, end: TranscriptEnd): Promise<string>;
  /** The `verdict` signature over an audit's verdict on the transcript with this SHA-256. */
  signVerdict(auditId: string, transcriptSha256: string, verdict: Verdict): Promise<string>;
  /** The signature of an action on this identity's DPHN (stake, unstake) of `amount` µDPHN, signed at `at` (ms). */
  signAccountAction(action: string, amount: number, at: number): Promise<string>;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

async function storedKeyPair(): Promise<CryptoKeyPair> {
  const db = await openDB(DB_NAME, 1, { upgrade: (d) => void d.createObjectStore(STORE) });
  try {
    const existing = (await db.get(STORE, KEY)) as CryptoKeyPair | undefined;
    if (existing) return existing;
    const created = (await crypto.subtle.generateKey(ED25519, false, ['sign', 'verify'])) as CryptoKeyPair;
    try {
      await db.add(STORE, created, KEY);
      return created;
    } catch {
      // Another tab stored its key first: use that one, so the profile keeps a single identity.
      const winner = (await db.get(STORE, KEY)) as CryptoKeyPair | undefined;
      if (!winner) throw new Error('could not store the identity key');
      return winner;
    }
  } finally {
    db.close();
  }
}

export async function loadIdentity(): Promise<ContributorIdentity> {
  const pair = await storedKeyPair();
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  const publicKey = toBase64Url(raw);
  const contributorId = contributorIdOf(new Uint8Array(await crypto.subtle.digest('SHA-256', raw)));
  const sign = async (bytes: Uint8Array) => toBase64Url(new Uint8Array(await crypto.subtle.sign(ED25519, pair.privateKey, bytes as Uint8Array<ArrayBuffer>)));
  return {
    contributorId,
    publicKey,
    prove: async (challenge) => ({ publicKey, signature: await sign(authMessage(challenge)) }),
    signResult: async (task, tokens, end) => sign(resultMessage(await sha256(transcriptOf(task, tokens, end)))),
    signVerdict: async (auditId, transcriptSha256, verdict) => sign(verdictMessage(await sha256(verdictStatementOf(auditId, transcriptSha256, verdict)))),
    signAccountAction: async (action, amount, at) => sign(accountActionMessage(await sha256(accountStatementOf(action, contributorId, amount, at)))),
  };
}
