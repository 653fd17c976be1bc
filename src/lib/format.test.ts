import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, shortId } from './format.ts';

describe('formatting', () => {
  it('shows bytes in decimal units', () => {
    expect(formatBytes(12)).toBe('12 B');
    expect(formatBytes(820_000)).toBe('820 KB');
    expect(formatBytes(1_530_000)).toBe('1.5 MB');
    expect(formatBytes(2_500_000_000)).toBe('2.50 GB');
  });
  it('shows durations the way people say them', () => {
    expect(formatDuration(14.4)).toBe('14 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(7500)).toBe('2 h 5 min');
  });
});

describe('shortId', () => {
  it('cuts a long id to 10 characters and keeps a short one', () => {
    expect(shortId('0123456789abcdef')).toBe('0123456789…');
    expect(shortId('tab-1')).toBe('tab-1');
    expect(shortId(null)).toBe('—');
  });
});
