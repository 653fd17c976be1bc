/** DPHN as people type it ("1.5") and as the API counts it (whole µDPHN; 1 DPHN = 1,000,000 µDPHN). */

export const MICROS_PER_DPHN = 1_000_000;

/** Parses a positive DPHN amount with at most 6 decimals; throws an Error that says what is wrong. */
export function parseDphn(text: string): number {
  const match = /^\s*(\d+)(?:\.(\d*))?\s*$/.exec(text) ?? /^\s*()\.(\d+)\s*$/.exec(text);
  if (!match) throw new Error(`"${text.trim()}" is not an amount of DPHN: write it like 1.5`);
  const [, whole = '', fraction = ''] = match;
  if (fraction.length > 6) throw new Error('DPHN has at most 6 decimals (1 µDPHN = 0.000001 DPHN)');
  const micros = Number(whole || '0') * MICROS_PER_DPHN + Number(fraction.padEnd(6, '0') || '0');
  if (!Number.isSafeInteger(micros)) throw new Error('That amount is too large');
  if (micros <= 0) throw new Error('The amount must be more than 0');
  return micros;
}
