import { describe, expect, it } from 'vitest';
import { pickCourier, pickVerifier, type VerifierCandidate } from './verifier-choice.ts';

const tab = (contributorId: string, runningJobs = 0, models = ['m'], peerId: string | null = `p-${contributorId}`): VerifierCandidate => ({ contributorId, models, runningJobs, peerId });
const wanted = (overrides: Partial<Parameters<typeof pickVerifier>[1]> = {}) => ({ model: 'm', excluded: new Set(['w']), planted: null, preferred: null, ...overrides });
const first = () => 0;

describe('pickVerifier', () => {
  it('never picks an excluded identity or one without the model; prefers idle tabs', () => {
    const tabs = [tab('w'), tab('x', 0, ['other']), tab('busy', 1), tab('idle')];
    expect(pickVerifier(tabs, wanted(), () => 0, first)?.contributorId).toBe('idle');
    expect(pickVerifier([tab('w'), tab('busy', 1)], wanted(), () => 0, first)?.contributorId).toBe('busy');
    expect(pickVerifier([tab('w'), tab('x', 0, ['other'])], wanted(), () => 0, first)).toBeNull();
  });

  it('gives a planted transcript to the identity it is meant for, else to the least tested', () => {
    const tabs = [tab('tested'), tab('new', 1), tab('target', 1)];
    const tested = (id: string) => (id === 'tested' ? 3 : 0);
    expect(pickVerifier(tabs, wanted({ planted: 'known-bad' as const, preferred: 'target' }), tested, first)?.contributorId).toBe('target');
    expect(pickVerifier(tabs, wanted({ planted: 'known-bad' as const }), tested, first)?.contributorId).toBe('new');
    expect(pickVerifier(tabs, wanted({ planted: 'known-bad' as const, preferred: 'w' }), tested, first)?.contributorId).toBe('new');
  });
});

describe('pickCourier', () => {
  it('picks a tab of another identity with a mesh peer, never the verifier', () => {
    const verifier = tab('v');
    const sameIdentity = tab('v');
    expect(pickCourier([verifier, sameIdentity, tab('np', 0, ['m'], null)], verifier, first)).toBeNull();
    expect(pickCourier([verifier, tab('c')], verifier, first)?.contributorId).toBe('c');
  });
});
