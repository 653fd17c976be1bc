import { afterEach, describe, expect, it, vi } from 'vitest';
import { cheatFromQuery } from './test-hooks.ts';

afterEach(() => vi.unstubAllEnvs());

describe('cheatFromQuery', () => {
  it('is null outside test-hooks builds, whatever the query says', () => {
    expect(import.meta.env.MODE).not.toBe('test-hooks');
    expect(cheatFromQuery(new URLSearchParams('cheat=replay'))).toBeNull();
  });

  it('reads ?cheat= in a test-hooks build and refuses unknown modes', () => {
    vi.stubEnv('MODE', 'test-hooks');
    expect(cheatFromQuery(new URLSearchParams('cheat=replay'))).toBe('replay');
    expect(cheatFromQuery(new URLSearchParams('model=dolphin-tiny'))).toBeNull();
    expect(() => cheatFromQuery(new URLSearchParams('cheat=replya'))).toThrow(/not a cheating mode/);
  });
});
