import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS_DIR } from '../../test/support/node-model.ts';
import { createChatTokenizer } from './chat-tokenizer.ts';

const read = (file: string) => JSON.parse(readFileSync(join(MODELS_DIR, 'dolphin-tiny', file), 'utf8'));
const tokenizer = createChatTokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
const utf8 = new TextEncoder();

describe('ChatTokenizer', () => {
  const samples = ['Hello, world!', 'Привет, мир', '你好，世界', 'مرحبا بالعالم', '🐬🌊 👩‍👩‍👧 👍🏽', 'const x = a\t+ b;\r\n'];

  it.each(samples)('round-trips %s', (text) => {
    const ids = tokenizer.encode(text);
    expect(tokenizer.decode(ids)).toBe(text);
    // Each token's bytes, concatenated, are the text's UTF-8 bytes.
    expect(ids.flatMap((id) => tokenizer.piece(id).bytes)).toEqual([...utf8.encode(text)]);
  });

  it('renders the chat template with the assistant turn opened', () => {
    const ids = tokenizer.encodeChat([
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'Hi 🐬' },
    ]);
    const text = tokenizer.decode(ids);
    expect(text).toContain('Be kind.');
    expect(text).toContain('Hi 🐬');
    const withSpecials = ids.map((id) => tokenizer.piece(id).text).join('');
    expect(withSpecials.endsWith('<|im_start|>assistant\n')).toBe(true);
  });
});
