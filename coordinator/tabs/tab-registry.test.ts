import { describe, expect, it } from 'vitest';
import { RecordingLink } from '../../test/unit/tab-peer.ts';
import { TabRegistry } from './tab-registry.ts';

describe('TabRegistry.introduce', () => {
  it('tells the callee to expect the caller, then the caller to dial', () => {
    const registry = new TabRegistry();
    const [la, lb] = [new RecordingLink(), new RecordingLink()];
    const a = registry.add(la);
    const b = registry.add(lb);
    a.peerId = 'tA';
    b.peerId = 'tB';
    expect(registry.introduce(a, b)).toBe(true);
    expect(lb.sent).toEqual([{ type: 'mesh-expect', peerId: 'tA' }]);
    expect(la.sent).toEqual([{ type: 'mesh-dial', peerId: 'tB' }]);
  });

  it('refuses tabs without a WebRTC peer, and a tab to itself', () => {
    const registry = new TabRegistry();
    const a = registry.add(new RecordingLink());
    const b = registry.add(new RecordingLink());
    a.peerId = 'tA';
    expect(registry.introduce(a, b)).toBe(false);
    expect(registry.introduce(a, a)).toBe(false);
  });

  it('keeps peer ids out of the status it publishes', () => {
    const registry = new TabRegistry();
    const a = registry.add(new RecordingLink());
    a.peerId = 'tSecret';
    expect(JSON.stringify(registry.status())).not.toContain('tSecret');
  });
});
