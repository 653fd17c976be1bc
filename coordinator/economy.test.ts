import { describe, expect, it } from 'vitest';
import { DEFAULT_ECONOMY, economySettings } from './economy.ts';

describe('economySettings', () => {
  it('reads the defaults and the shipped prices file', () => {
    const settings = economySettings({});
    expect(settings).toMatchObject({ ...DEFAULT_ECONOMY, prices: expect.any(Object) });
    expect(settings.prices.models['dolphin-small']).toEqual({ promptPer1K: 100_000, completionPer1K: 400_000 });
  });

  it('refuses verifier fees that three verdicts could not pay from the treasury’s share of a job', () => {
    expect(() => economySettings({ VERIFIER_FEE: '0.07' })).toThrow(/VERIFIER_FEE/); // 3 × 0.07 > 1 − 0.8
    expect(economySettings({ VERIFIER_FEE: '0.1', CONTRIBUTOR_SHARE: '0.7' }).verifierFeePpm).toBe(100_000);
  });

  it('refuses an unbonding delay shorter than an audit can take, and a prices file that is not valid', () => {
    expect(() => economySettings({ UNBONDING_MS: '60000' })).toThrow(/^UNBONDING_MS=/);
    expect(() => economySettings({}, 'package.json')).toThrow(/package\.json/);
    expect(() => economySettings({ PRICES_FILE: 'no/such/prices.json' })).toThrow(/PRICES_FILE no\/such\/prices\.json/);
    expect(() => economySettings({}, 'README.md')).toThrow(/PRICES_FILE README\.md/); // not JSON
  });
});
