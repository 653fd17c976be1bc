import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { trainBpe } from './bpe-trainer.ts';
import { BPE_CORPUS } from './corpus.ts';
import { buildModelFiles } from './model-files.ts';
import type { LlamaSpec } from './specs.ts';
import { DOLPHIN_SMALL, DOLPHIN_TINY, SPECIAL_TOKENS, specialTokenIds, vocabSize } from './specs.ts';

function loadJson(spec: LlamaSpec, files: ReturnType<typeof buildModelFiles>, path: string): Record<string, unknown> {
  const file = files.find((f) => f.path === path);
  if (!file) throw new Error(`${spec.id}: no ${path}`);
  return JSON.parse(new TextDecoder().decode(file.bytes)) as Record<string, unknown>;
}

const SAMPLES = [
  'The quick brown fox jumps over the lazy dog.',
  "It's a test: don't panic, we'll see what they've done.",
  'function add(a: number, b: number): number {\n  return a + b;\n}\n',
  'def f(x):\n\treturn x ** 2  # tabs, double  spaces\r\n',
  '人工智能正在改变世界，这是一个从未见过的句子。',
  'الذكاء الاصطناعي يغير العالم',
  'Привет, мир! Съешь же ещё этих мягких французских булок.',
  'Emoji 🐬🌊 👩‍👩‍👧 👍🏽 ❤️ and ✨ symbols ∑∫≈',
  '   leading and trailing whitespace   \n\n',
  'Zürich, naïve café, ſ, ß, İ',
];

describe.each([{ spec: DOLPHIN_TINY }, { spec: DOLPHIN_SMALL }])('$spec.id tokenizer', ({ spec }) => {
  const files = buildModelFiles(spec);
  const tokenizerJson = loadJson(spec, files, 'tokenizer.json');
  const tokenizerConfig = loadJson(spec, files, 'tokenizer_config.json');
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const ids = specialTokenIds(spec);

  it.each(SAMPLES)('round-trips %j', (text) => {
    const encoded = tokenizer.encode(text, { add_special_tokens: false });
    expect(encoded.ids.every((id: number) => id >= 0 && id < vocabSize(spec))).toBe(true);
    expect(tokenizer.decode(encoded.ids)).toBe(text);
  });

  it('encodes special tokens to their single ids and skips them on request', () => {
    expect(SPECIAL_TOKENS.map((t) => tokenizer.encode(t).ids)).toEqual([[ids.endOfText], [ids.imStart], [ids.imEnd]]);
    const encoded = tokenizer.encode('<|im_start|>user\nHi<|im_end|>');
    expect(encoded.ids[0]).toBe(ids.imStart);
    expect(encoded.ids.at(-1)).toBe(ids.imEnd);
    expect(tokenizer.decode(encoded.ids, { skip_special_tokens: true })).toBe('user\nHi');
  });

  it('uses its merges: common English needs fewer ids than bytes', () => {
    const text = 'The network is small, and the model is in the browser of the user.';
    const n = tokenizer.encode(text).ids.length;
    expect(n).toBeLessThan(new TextEncoder().encode(text).length * 0.75);
  });

  it('gives every id a token and matches the config', () => {
    const config = loadJson(spec, files, 'config.json');
    expect(config.vocab_size).toBe(vocabSize(spec));
    for (let id = 0; id < vocabSize(spec); id++) expect(tokenizer.id_to_token(id)).toBeTypeOf('string');
    expect(config.bos_token_id).toBe(tokenizer.token_to_id(tokenizerConfig.bos_token as string));
    expect(config.eos_token_id).toBe(tokenizer.token_to_id(tokenizerConfig.eos_token as string));
    expect(config.pad_token_id).toBe(tokenizer.token_to_id(tokenizerConfig.pad_token as string));
  });

  it('renders the ChatML chat template', () => {
    const template = new Template(tokenizerConfig.chat_template as string);
    const messages = [
      { role: 'system', content: 'You are helpful.' },
      { role: 'user', content: 'Hi there!' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: '2+2?' },
    ];
    const rendered = template.render({ messages, add_generation_prompt: true, bos_token: '', eos_token: '<|im_end|>' });
    expect(rendered).toBe(
      '<|im_start|>system\nYou are helpful.<|im_end|>\n' +
        '<|im_start|>user\nHi there!<|im_end|>\n' +
        '<|im_start|>assistant\nHello.<|im_end|>\n' +
        '<|im_start|>user\n2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
    expect(template.render({ messages: messages.slice(0, 1), add_generation_prompt: false })).toBe(
      '<|im_start|>system\nYou are helpful.<|im_end|>\n',
    );
    const encoded = tokenizer.encode(rendered, { add_special_tokens: false }).ids;
    expect(encoded.filter((id: number) => id === ids.imStart)).toHaveLength(5);
  });
});

describe('trainBpe', () => {
  it('is deterministic and a smaller run is a prefix of a larger one', () => {
    const small = trainBpe(BPE_CORPUS, 40);
    const large = trainBpe(BPE_CORPUS, 80);
    expect(large.merges.slice(0, small.merges.length)).toEqual(small.merges);
    expect(trainBpe(BPE_CORPUS, 40)).toEqual(small);
  });

  it('refuses to invent merges the corpus does not support', () => {
    expect(() => trainBpe('abab cdcd', 10)).toThrow(/corpus too small/);
  });
});
