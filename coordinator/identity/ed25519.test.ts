import { describe, expect, it } from 'vitest';
import { authMessage, contributorIdOf, fromBase64Url, toBase64Url } from '../../src/protocol/identity.ts';
import { TestIdentity } from '../../test/unit/tab-peer.ts';
import { contributorIdFromPublicKey, isSoundPublicKey, newChallenge, sha256, verifyEd25519 } from './ed25519.ts';

const hex = (h: string) => toBase64Url(Uint8Array.from(h.match(/../g)!, (b) => parseInt(b, 16)));

describe('Ed25519 identity on the coordinator', () => {
  it('verifies what WebCrypto signs, and derives the same contributor id', async () => {
    // Node's WebCrypto stands in for the browser's: the same API the tab uses in src/lib/identity.ts.
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
    const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    const challenge = newChallenge();
    const signature = toBase64Url(new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, pair.privateKey, authMessage(challenge) as Uint8Array<ArrayBuffer>)));
    const publicKey = toBase64Url(raw);
    expect(verifyEd25519(publicKey, authMessage(challenge), signature)).toBe(true);
    expect(verifyEd25519(publicKey, authMessage(newChallenge()), signature)).toBe(false);
    const browserId = contributorIdOf(new Uint8Array(await crypto.subtle.digest('SHA-256', raw)));
    expect(contributorIdFromPublicKey(publicKey)).toBe(browserId);
  });

  it('refuses malformed signatures and keys without throwing', () => {
    const me = new TestIdentity();
    const message = authMessage('c'.repeat(43));
    const good = me.sign(message);
    expect(verifyEd25519(me.publicKey, message, good)).toBe(true);
    expect(verifyEd25519(me.publicKey, message, good.slice(0, -2) + (good.endsWith('AA') ? 'BA' : 'AA'))).toBe(false);
    expect(verifyEd25519(me.publicKey, message, '!!!')).toBe(false);
    expect(verifyEd25519('not a key', message, good)).toBe(false);
    expect(verifyEd25519(me.publicKey.slice(1), message, good)).toBe(false);
  });

  // Encodings of points of order 1, 2, 4 and 8 (canonical and not), as listed by libsodium.
  const smallOrder = [
    '0100000000000000000000000000000000000000000000000000000000000000',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0000000000000000000000000000000000000000000000000000000000000080',
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  ];

  it.each(smallOrder)('refuses the small-order key %s', (key) => {
    expect(isSoundPublicKey(hex(key))).toBe(false);
  });

  it('cannot be fooled by the all-zero key and signature, whatever the challenge', () => {
    // With a small-order key, a zero signature verifies in OpenSSL for about one message in four.
    const zeroKey = toBase64Url(new Uint8Array(32));
    const zeroSignature = toBase64Url(new Uint8Array(64));
    for (let i = 0; i < 64; i++) expect(verifyEd25519(zeroKey, authMessage(newChallenge()), zeroSignature)).toBe(false);
  });

  it('makes fresh 256-bit challenges and hashes like WebCrypto', async () => {
    const c = newChallenge();
    expect(fromBase64Url(c)).toHaveLength(32);
    expect(newChallenge()).not.toBe(c);
    const data = new TextEncoder().encode('dolphin');
    expect(sha256(data)).toEqual(new Uint8Array(await crypto.subtle.digest('SHA-256', data)));
  });
});
