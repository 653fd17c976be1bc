import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS_DIR } from '../../test/support/node-model.ts';
import { createChatTokenizer } from './chat-tokenizer.ts';
import { IncrementalDecoder } from './incremental-decoder.ts';

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

  it('decodes nothing to nothing', () => {
    const decoder = new IncrementalDecoder(tokenizer.decode);
    expect(decoder.finish()).toBe('');
  });
});
