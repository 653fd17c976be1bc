import { describe, expect, it } from 'vitest';
import { CONSENT_VERSION, DEFAULT_SETTINGS, hasConsent, limitsFrom, loadSettings, saveConsent, saveSettings, type ContributorSettings } from './contributor-settings.ts';

const settings = (patch: Partial<ContributorSettings> = {}): ContributorSettings => ({ ...DEFAULT_SETTINGS, alsoServe: [], ...patch });

describe('limitsFrom', () => {
  it('reports no limits by default: not paused, only the loaded model, all the time', () => {
    expect(limitsFrom(settings(), 'tiny', false)).toEqual({ paused: false, models: null, share: 1 });
    expect(limitsFrom(settings(), 'tiny', true)).toEqual({ paused: false, models: null, share: 1 });
  });

  it('pauses when the contributor paused, or when the tab is hidden and they asked for that', () => {
    expect(limitsFrom(settings({ pauseNow: true }), 'tiny', false).paused).toBe(true);
    expect(limitsFrom(settings({ pauseWhenHidden: true }), 'tiny', false).paused).toBe(false);
    expect(limitsFrom(settings({ pauseWhenHidden: true }), 'tiny', true).paused).toBe(true);
  });

  it('lists the loaded model first, then the others chosen, once each', () => {
    expect(limitsFrom(settings({ alsoServe: ['small', 'tiny'] }), 'tiny', false).models).toEqual(['tiny', 'small']);
    expect(limitsFrom(settings({ alsoServe: ['tiny'] }), 'tiny', false).models).toBeNull();
  });

  it('passes the share of time', () => {
    expect(limitsFrom(settings({ share: 0.25 }), 'tiny', false).share).toBe(0.25);
  });
});

describe('loadSettings / saveSettings', () => {
  const memory = () => {
    const items = new Map<string, string>();
    return { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => void items.set(k, v), items };
  };

  it('reads back what it saved', () => {
    const storage = memory();
    const saved = settings({ pauseWhenHidden: true, share: 0.5, alsoServe: ['small'] });
    saveSettings(storage, saved);
    expect(loadSettings(storage)).toEqual(saved);
  });

  it('keeps consent to the current consent text only, and forgets it when withdrawn', () => {
    const storage = memory();
    expect(hasConsent(storage)).toBe(false);
    saveConsent({ ...storage, removeItem: (k: string) => void storage.items.delete(k) }, true);
    expect(hasConsent(storage)).toBe(true);
    storage.items.set('dolphin.consent', String(CONSENT_VERSION - 1));
    expect(hasConsent(storage)).toBe(false);
    saveConsent({ ...storage, removeItem: (k: string) => void storage.items.delete(k) }, false);
    expect(hasConsent(storage)).toBe(false);
    expect(hasConsent(null)).toBe(false);
  });

  it('falls back to the defaults for nothing stored, bad JSON, or values out of range', () => {
    const storage = memory();
    expect(loadSettings(storage)).toEqual(DEFAULT_SETTINGS);
    for (const bad of ['{', JSON.stringify({ ...DEFAULT_SETTINGS, share: 0 }), JSON.stringify({ pauseNow: 'yes' })]) {
      storage.items.set('dolphin.contributor-settings', bad);
      expect(loadSettings(storage)).toEqual(DEFAULT_SETTINGS);
    }
    expect(loadSettings(null)).toEqual(DEFAULT_SETTINGS);
  });
});
