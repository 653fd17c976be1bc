import { describe, expect, it } from 'vitest';
import { pickTab, servesModel, type TabSnapshot } from './pick-tab.ts';

const tab = (id: string, fields: Partial<TabSnapshot> = {}): TabSnapshot => ({
  id,
  models: ['m'],
  runningJobs: 0,
  tokensPerSecond: null,
  calibration: {},
  connectedAt: 0,
  reputation: 0.5,
  hidden: false,
  ...fields,
});

const pickedId = (tabs: TabSnapshot[], model = 'm') => pickTab(tabs, model)?.id ?? null;

describe('servesModel', () => {
  it('is true only for a model the tab announced', () => {
    expect(servesModel(tab('a', { models: ['m', 'n'] }), 'n')).toBe(true);
    expect(servesModel(tab('a', { models: ['m'] }), 'mm')).toBe(false);
    expect(servesModel(tab('a', { models: [] }), 'm')).toBe(false);
  });

  it('does not care whether the tab is busy', () => {
    expect(servesModel(tab('a', { runningJobs: 1 }), 'm')).toBe(true);
  });
});

describe('pickTab', () => {
  it('returns null when there are no tabs', () => {
    expect(pickTab([], 'm')).toBeNull();
  });

  it('returns null when no tab has the model', () => {
    expect(pickTab([tab('a', { models: ['other'] }), tab('b', { models: [] })], 'm')).toBeNull();
  });

  it('only considers tabs that have the model, however idle and fast the others are', () => {
    const tabs = [tab('fast-wrong-model', { models: ['other'], tokensPerSecond: 900 }), tab('slow', { models: ['other', 'm'], tokensPerSecond: 1 })];
    expect(pickedId(tabs)).toBe('slow');
    expect(pickedId(tabs, 'other')).toBe('fast-wrong-model');
  });

  it('never picks a tab already running a job: a tab runs one job at a time', () => {
    const busyFastOld = tab('busy', { runningJobs: 1, tokensPerSecond: 500, connectedAt: 1 });
    const idleSlowNew = tab('idle', { runningJobs: 0, tokensPerSecond: 5, connectedAt: 9 });
    expect(pickedId([busyFastOld, idleSlowNew])).toBe('idle');
    expect(pickedId([idleSlowNew, busyFastOld])).toBe('idle');
  });

  it('returns null when every tab with the model is busy, even if an idle tab serves another model', () => {
    const tabs = [tab('busy-a', { runningJobs: 1 }), tab('busy-b', { runningJobs: 3, tokensPerSecond: 40 }), tab('idle-other', { models: ['other'] })];
    expect(pickTab(tabs, 'm')).toBeNull();
  });

  it('prefers the fastest measured tab, and a measured tab beats an unmeasured one', () => {
    const slow = tab('slow', { tokensPerSecond: 10, connectedAt: 1 });
    const fast = tab('fast', { tokensPerSecond: 40, connectedAt: 2 });
    const unmeasured = tab('unmeasured', { tokensPerSecond: null, connectedAt: 0 });
    expect(pickedId([slow, fast])).toBe('fast');
    expect(pickedId([fast, slow])).toBe('fast');
    expect(pickedId([unmeasured, slow])).toBe('slow');
    expect(pickedId([slow, unmeasured])).toBe('slow');
  });

  it('breaks a speed tie by the longest-connected tab, whatever the order', () => {
    const older = tab('older', { tokensPerSecond: 20, connectedAt: 100 });
    const newer = tab('newer', { tokensPerSecond: 20, connectedAt: 200 });
    expect(pickedId([older, newer])).toBe('older');
    expect(pickedId([newer, older])).toBe('older');
    const unmeasuredOlder = tab('u-older', { connectedAt: 3 });
    const unmeasuredNewer = tab('u-newer', { connectedAt: 4 });
    expect(pickedId([unmeasuredNewer, unmeasuredOlder])).toBe('u-older');
  });

  it('returns the tab object itself, not a copy', () => {
    const only = tab('only');
    expect(pickTab([only], 'm')).toBe(only);
  });

  it('weighs measured speed by reputation: a fast tab with a poor record loses to a sound one nearly as fast', () => {
    const tabs = [tab('fast-convicted', { tokensPerSecond: 100, reputation: 0.1 }), tab('sound', { tokensPerSecond: 70, reputation: 0.9 })];
    expect(pickedId(tabs)).toBe('sound'); // 100 × 0.6 = 60 < 70 × 1.4 = 98
    expect(pickedId([tab('much-faster', { tokensPerSecond: 300, reputation: 0.1 }), tabs[1] as TabSnapshot])).toBe('much-faster');
  });

  it('prefers the better reputation among tabs not yet measured', () => {
    expect(pickedId([tab('newcomer', { connectedAt: 0 }), tab('trusted', { connectedAt: 5, reputation: 0.95 }), tab('convicted', { connectedAt: 1, reputation: 0.05 })])).toBe('trusted');
  });

  it('takes a hidden tab to be four times slower, and prefers a visible tab when speeds tie', () => {
    expect(pickedId([tab('hidden', { tokensPerSecond: 30, hidden: true }), tab('visible', { tokensPerSecond: 10, connectedAt: 5 })])).toBe('visible'); // 30/4 < 10
    expect(pickedId([tab('hidden', { tokensPerSecond: 50, hidden: true }), tab('visible', { tokensPerSecond: 10 })])).toBe('hidden'); // 50/4 > 10
    expect(pickedId([tab('hidden', { hidden: true }), tab('visible', { connectedAt: 9 })])).toBe('visible'); // neither measured
  });

  it('ranks a tab that has served nothing yet by its calibration speed for the model, and a measured speed over it', () => {
    const calibrated = tab('calibrated', { calibration: { m: 40 } });
    const otherModel = tab('other-model', { calibration: { n: 400 } });
    const unknown = tab('unknown');
    expect(pickedId([unknown, otherModel, calibrated])).toBe('calibrated');
    // Served jobs tell more than the calibration run did.
    expect(pickedId([tab('measured', { tokensPerSecond: 30, calibration: { m: 10 } }), tab('calibrated-only', { calibration: { m: 20 } })])).toBe('measured');
    expect(pickedId([tab('measured', { tokensPerSecond: 10, calibration: { m: 90 } }), tab('calibrated-only', { calibration: { m: 20 } })])).toBe('calibrated-only');
  });
});
