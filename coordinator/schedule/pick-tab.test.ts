import { describe, expect, it } from 'vitest';
import { pickTab, type TabSnapshot } from './pick-tab.ts';

const tab = (id: string, fields: Partial<TabSnapshot> = {}): TabSnapshot => ({
  id,
  models: ['m'],
  runningJobs: 0,
  tokensPerSecond: null,
  connectedAt: 0,
  ...fields,
});

const pickedId = (tabs: TabSnapshot[], model = 'm') => pickTab(tabs, model)?.id ?? null;

describe('pickTab', () => {
  it('returns null when there are no tabs', () => {
    expect(pickTab([], 'm')).toBeNull();
  });

  it('returns null when no tab has the model', () => {
    expect(pickTab([tab('a', { models: ['other'] }), tab('b', { models: [] })], 'm')).toBeNull();
  });

  it('only considers tabs that have the model, however idle the others are', () => {
    const tabs = [tab('idle-wrong-model', { models: ['other'] }), tab('busy', { runningJobs: 5, models: ['other', 'm'] })];
    expect(pickedId(tabs)).toBe('busy');
    expect(pickedId(tabs, 'other')).toBe('idle-wrong-model');
  });

  it('prefers the tab with the fewest running jobs over speed and age', () => {
    const tabs = [
      tab('fast-old-busy', { runningJobs: 2, tokensPerSecond: 500, connectedAt: 1 }),
      tab('slow-new-idle', { runningJobs: 1, tokensPerSecond: 5, connectedAt: 9 }),
    ];
    expect(pickedId(tabs)).toBe('slow-new-idle');
    expect(pickedId([...tabs].reverse())).toBe('slow-new-idle');
  });

  it('breaks a load tie by measured speed, and a measured tab beats an unmeasured one', () => {
    const slow = tab('slow', { tokensPerSecond: 10, connectedAt: 1 });
    const fast = tab('fast', { tokensPerSecond: 40, connectedAt: 2 });
    const unmeasured = tab('unmeasured', { tokensPerSecond: null, connectedAt: 0 });
    expect(pickedId([slow, fast])).toBe('fast');
    expect(pickedId([fast, slow])).toBe('fast');
    expect(pickedId([unmeasured, slow])).toBe('slow');
  });

  it('breaks a load and speed tie by the longest-connected tab, whatever the order', () => {
    const older = tab('older', { tokensPerSecond: 20, connectedAt: 100 });
    const newer = tab('newer', { tokensPerSecond: 20, connectedAt: 200 });
    expect(pickedId([older, newer])).toBe('older');
    expect(pickedId([newer, older])).toBe('older');
  });

  it('returns the tab object itself, not a copy', () => {
    const only = tab('only');
    expect(pickTab([only], 'm')).toBe(only);
  });
});
