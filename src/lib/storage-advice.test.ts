import { describe, expect, it } from 'vitest';
import { storageAdvice } from './storage-advice.ts';

describe('storageAdvice', () => {
  it('says nothing when the browser does not tell its quota', () => {
    expect(storageAdvice({ usage: null, quota: null, persisted: null }, 5e9)).toEqual({ freeBytes: null, short: false, message: null });
  });
  it('is content when the missing bytes fit in what is left', () => {
    expect(storageAdvice({ usage: 1e9, quota: 3e9, persisted: true }, 2e9)).toEqual({ freeBytes: 2e9, short: false, message: null });
  });
  it('explains a short quota with both sizes', () => {
    const advice = storageAdvice({ usage: 2.5e9, quota: 3e9, persisted: false }, 1.2e9);
    expect(advice.short).toBe(true);
    expect(advice.freeBytes).toBe(5e8);
    expect(advice.message).toContain('1.20 GB');
    expect(advice.message).toContain('500.0 MB');
  });
  it('treats usage beyond the quota as nothing left', () => {
    expect(storageAdvice({ usage: 4e9, quota: 3e9, persisted: null }, 1).freeBytes).toBe(0);
  });
});
