/**
 * The coordinator's side of contributor identity (see src/protocol/identity.ts): challenges, contributor ids and
 * Ed25519 verification with node:crypto, synchronous so message handling stays in order.
 */
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
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

/** Whether `signature` (base64url) is `publicKey`'s (base64url, raw 32 bytes, sound) Ed25519 signature of `message`. */
export function verifyEd25519(publicKey: string, message: Uint8Array, signature: string): boolean {
  const signatureBytes = fromBase64Url(signature);
  if (!signatureBytes || !isSoundPublicKey(publicKey)) return false;
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
    return verify(null, message, key, signatureBytes);
  } catch {
    return false;
  }
}
