import { describe, expect, it } from 'vitest';
import { numberSetting } from './settings.ts';

describe('numberSetting', () => {
  it('reads a number in range, falls back when unset or empty, and refuses anything else by name', () => {
    const range = { min: 0, max: 1 };
    expect(numberSetting({ X: '0.25' }, 'X', 0.05, range)).toBe(0.25);
    expect(numberSetting({}, 'X', 0.05, range)).toBe(0.05);
    expect(numberSetting({ X: ' ' }, 'X', 0.05, range)).toBe(0.05);
    for (const bad of ['abc', '2', '-1', 'NaN', 'Infinity']) expect(() => numberSetting({ X: bad }, 'X', 0.05, range)).toThrow(/^X=/);
    expect(() => numberSetting({ N: '1.5' }, 'N', 10, { min: 0, max: 100, integer: true })).toThrow(/integer/);
  });
});
