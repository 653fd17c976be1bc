import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS_DIR } from '../../test/support/node-model.ts';
import { createChatTokenizer } from './chat-tokenizer.ts';
import { IncrementalDecoder, MAX_WINDOW } from './incremental-decoder.ts';

const read = (file: string) => JSON.parse(readFileSync(join(MODELS_DIR, 'dolphin-tiny', file), 'utf8'));
const tokenizer = createChatTokenizer(read('tokenizer.json'), read('tokenizer_config.json'));

describe('IncrementalDecoder', () => {
  it.each(['plain words and spaces', 'Привет 🐬 你好 👩‍👩‍👧', 'tabs\tand\nnewlines  '])('streams %s exactly, never half a character', (text) => {
    const decoder = new IncrementalDecoder(tokenizer.decode);
    const deltas = tokenizer.encode(text).map((id) => decoder.push(id));
    deltas.push(decoder.finish());
    expect(deltas.join('')).toBe(text);
    expect(decoder.text).toBe(text);
    expect(deltas.some((d) => d.includes('\uFFFD'))).toBe(false);
  });

  it('releases an incomplete character at the end as U+FFFD', () => {
    const decoder = new IncrementalDecoder(tokenizer.decode);
    const [first] = tokenizer.encode('🐬'); // a 4-byte character: its first token is an incomplete sequence
    expect(decoder.push(first as number)).toBe('');
    expect(decoder.finish()).toContain('\uFFFD');
  });

  it('stays linear on ids that never form text (special tokens, stray lead bytes), releasing a long window as it is', () => {
    const leadByte = tokenizer.encode('🐬')[0] as number;
    for (const id of [leadByte, tokenizer.encode('<|im_start|>').at(-1) as number]) {
      const decoder = new IncrementalDecoder(tokenizer.decode);
      let decoded = 0;
      const counting = new IncrementalDecoder((ids) => ((decoded += ids.length), tokenizer.decode(ids)));
      for (let i = 0; i < 2000; i++) {
        decoder.push(id);
        counting.push(id);
      }
      // Each push decodes at most about 2 x MAX_WINDOW ids, never the whole run.
      expect(decoded).toBeLessThan(2000 * 2 * MAX_WINDOW);
      decoder.finish();
      expect(decoder.text.length).toBeLessThan(2001);
    }
  });

  it('decodes nothing to nothing', () => {
    const decoder = new IncrementalDecoder(tokenizer.decode);
    expect(decoder.finish()).toBe('');
  });
});
