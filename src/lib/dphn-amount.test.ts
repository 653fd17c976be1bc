import { describe, expect, it } from 'vitest';
import { parseDphn } from './dphn-amount.ts';

describe('parseDphn', () => {
  it('reads whole and decimal amounts as µDPHN', () => {
    expect(parseDphn('1')).toBe(1_000_000);
    expect(parseDphn(' 1.5 ')).toBe(1_500_000);
    expect(parseDphn('0.000001')).toBe(1);
    expect(parseDphn('.25')).toBe(250_000);
    expect(parseDphn('2.')).toBe(2_000_000);
  });
  it('refuses what is not a positive amount, saying why', () => {
    expect(() => parseDphn('')).toThrow(/not an amount/);
    expect(() => parseDphn('-1')).toThrow(/not an amount/);
    expect(() => parseDphn('1e3')).toThrow(/not an amount/);
    expect(() => parseDphn('0')).toThrow(/more than 0/);
    expect(() => parseDphn('0.0000001')).toThrow(/6 decimals/);
    expect(() => parseDphn('99999999999999')).toThrow(/too large/);
  });
});
