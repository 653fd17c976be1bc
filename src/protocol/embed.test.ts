import { describe, expect, it } from 'vitest';
import { contributorStatusOf, type ContributorStatusMessage } from './embed.ts';

const good: ContributorStatusMessage = { type: 'dolphin-contributor', phase: 'serving', jobsServed: 3, tabId: 'tab-4', backend: 'wasm', error: null };

describe('contributorStatusOf', () => {
  it('takes a well-formed status', () => {
    expect(contributorStatusOf(structuredClone(good))).toEqual(good);
    expect(contributorStatusOf({ ...good, phase: 'error', error: 'no WebGPU', tabId: null, backend: null })).not.toBeNull();
  });
  it('refuses anything else', () => {
    for (const bad of [null, 'serving', 42, { ...good, type: 'other' }, { ...good, phase: 'dancing' }, { ...good, jobsServed: -1 }, { ...good, jobsServed: 1.5 }, { ...good, tabId: 7 }, { ...good, backend: 'cuda' }, { ...good, error: 'x'.repeat(501) }])
      expect(contributorStatusOf(bad)).toBeNull();
  });
  it('keeps only the known fields', () => {
    expect(contributorStatusOf({ ...good, extra: '<script>' })).toEqual(good);
  });
});
