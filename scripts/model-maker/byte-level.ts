/**
 * GPT-2 byte-level alphabet and pre-tokenization, identical to what the HF ByteLevel pre-tokenizer does with
 * add_prefix_space=false, use_regex=true (so the trainer sees the same pieces the tokenizer will).
 */

/** GPT-2 `bytes_to_unicode`: printable bytes map to themselves, the rest to U+0100 upwards. */
export function bytesToUnicode(): readonly string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = [];
  let next = 0;
  for (let b = 0; b < 256; b++) table.push(String.fromCodePoint(printable(b) ? b : 256 + next++));
  return table;
}

/** The GPT-2 split pattern used by ByteLevel when use_regex is true. */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Splits text into pre-tokens and maps each to its byte-level symbols (one char per UTF-8 byte). */
export function byteLevelPieces(text: string): string[][] {
  const table = bytesToUnicode();
  const encoder = new TextEncoder();
  return (text.match(GPT2_PATTERN) ?? []).map((piece) => Array.from(encoder.encode(piece), (b) => table[b]!));
}
