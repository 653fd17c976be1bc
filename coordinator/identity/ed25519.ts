/**
 * The coordinator's side of contributor identity (see src/protocol/identity.ts): challenges, contributor ids and
 * Ed25519 verification with node:crypto, synchronous so message handling stays in order.
 */
import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { contributorIdOf, fromBase64Url, toBase64Url } from '../../src/protocol/identity.ts';

export function newChallenge(): string {
  return toBase64Url(randomBytes(32));
}

export function sha256(data: string | Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** The contributor id of a base64url raw public key (its length is checked by the message schema). */
export function contributorIdFromPublicKey(publicKey: string): string {
  return contributorIdOf(sha256(fromBase64Url(publicKey) ?? new Uint8Array()));
}

/**
 * Whether `publicKey` (base64url, raw 32 bytes) is a point of the prime-order subgroup, as every key made by
 * WebCrypto is. A small-order key "verifies" a made-up signature with fair odds (all zeros does for one message in
 * four), which would give identities without private keys; OpenSSL does not check this, @noble/curves does.
 */
export function isSoundPublicKey(publicKey: string): boolean {
  const bytes = fromBase64Url(publicKey);
  if (!bytes || bytes.length !== 32) return false;
  try {
    const point = ed25519.Point.fromBytes(bytes);
    return !point.isSmallOrder() && point.isTorsionFree();
  } catch {
    return false;
  }
}

/**
 * Public keys already checked: the KeyObject of a sound one, null for one that is not. Checking soundness costs a
 * scalar multiplication (most of a verification's time), and a tab signs every result with the same key.
 */
const checkedKeys = new Map<string, KeyObject | null>();
const MAX_CHECKED_KEYS = 10_000;

function keyObjectOf(publicKey: string): KeyObject | null {
  let key = checkedKeys.get(publicKey);
  if (key !== undefined) return key;
  try {
    key = isSoundPublicKey(publicKey) ? createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' }) : null;
  } catch {
    key = null;
  }
  // Bounded: the oldest entry goes first (a Map iterates in insertion order).
  if (checkedKeys.size >= MAX_CHECKED_KEYS) checkedKeys.delete(checkedKeys.keys().next().value as string);
  checkedKeys.set(publicKey, key);
  return key;
}

/** Whether `signature` (base64url) is `publicKey`'s (base64url, raw 32 bytes, sound) Ed25519 signature of `message`. */
export function verifyEd25519(publicKey: string, message: Uint8Array, signature: string): boolean {
  const signatureBytes = fromBase64Url(signature);
  if (!signatureBytes) return false;
  const key = keyObjectOf(publicKey);
  if (!key) return false;
  try {
    return verify(null, message, key, signatureBytes);
  } catch {
    return false;
  }
}
