/**
 * Deterministic byte-level BPE trainer: repeatedly merges the most frequent adjacent symbol pair, breaking
 * ties by the pair's string order (so the result never depends on Map iteration or timing).
 */
import { bytesToUnicode, byteLevelPieces } from './byte-level.ts';

export interface BpeModel {
  /** token → id: the 256 byte symbols first (id = byte value), then learned tokens in merge order. */
  readonly vocab: ReadonlyMap<string, number>;
  /** Merges in priority order; a merge whose result already exists adds no new token. */
  readonly merges: readonly (readonly [string, string])[];
}

/** Learns merges on `corpus` until `newTokens` tokens have been added; throws if the corpus runs out. */
export function trainBpe(corpus: string, newTokens: number): BpeModel {
  const vocab = new Map<string, number>(bytesToUnicode().map((symbol, byte) => [symbol, byte]));
  const words = countWords(corpus);
  const merges: [string, string][] = [];
  while (vocab.size < 256 + newTokens) {
    const best = mostFrequentPair(words);
    if (best === undefined) {
      throw new Error(`corpus too small: only ${vocab.size - 256} of ${newTokens} BPE tokens could be learned`);
    }
    merges.push(best);
    const merged = best[0] + best[1];
    if (!vocab.has(merged)) vocab.set(merged, vocab.size);
    for (const word of words) word.symbols = applyMerge(word.symbols, best[0], best[1]);
  }
  return { vocab, merges };
}

interface Word {
  symbols: string[];
  readonly count: number;
}

function countWords(corpus: string): Word[] {
  const counts = new Map<string, { symbols: string[]; count: number }>();
  for (const symbols of byteLevelPieces(corpus)) {
    const key = symbols.join('');
    const entry = counts.get(key);
    if (entry) entry.count++;
    else counts.set(key, { symbols, count: 1 });
  }
  return [...counts.values()];
}

/** Highest count (at least 2); ties go to the lexicographically smallest "left right" pair. */
function mostFrequentPair(words: readonly Word[]): [string, string] | undefined {
  // Symbols never contain ' ' (byte 0x20 maps to 'Ġ'), so "left right" is an unambiguous key.
  const counts = new Map<string, number>();
  for (const { symbols, count } of words) {
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = `${symbols[i]} ${symbols[i + 1]}`;
      counts.set(key, (counts.get(key) ?? 0) + count);
    }
  }
  let bestKey: string | undefined;
  let bestCount = 1;
  for (const [key, count] of counts) {
    if (count > bestCount || (count === bestCount && bestKey !== undefined && key < bestKey)) {
      bestKey = key;
      bestCount = count;
    }
  }
  if (bestKey === undefined) return undefined;
  const [left, right] = bestKey.split(' ');
  return [left!, right!];
}

function applyMerge(symbols: string[], left: string, right: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
      out.push(left + right);
      i++;
    } else {
      out.push(symbols[i]!);
    }
  }
  return out;
}
