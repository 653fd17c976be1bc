/**
 * HF `tokenizer.json` (byte-level BPE, GPT-2/Qwen style) and `tokenizer_config.json` with a ChatML template.
 * Merges use the pair format (`[["Ġ", "t"], ...]`, tokenizers ≥ 0.20), which @huggingface/tokenizers 0.2
 * and transformers.js load directly. The special tokens are also in the model vocab, so every id
 * 0..vocab-1 names a token.
 */
import { trainBpe } from './bpe-trainer.ts';
import { BPE_CORPUS } from './corpus.ts';
import type { LlamaSpec } from './specs.ts';
import { SPECIAL_TOKENS, specialTokenIds, vocabSize } from './specs.ts';

/** ChatML, one line per turn; `add_generation_prompt` opens the assistant turn. */
export const CHATML_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

export interface TokenizerFiles {
  /** Serialized tokenizer.json (vocab written in id order). */
  readonly tokenizerJson: string;
  readonly tokenizerConfig: Record<string, unknown>;
}

export function buildTokenizer(spec: LlamaSpec): TokenizerFiles {
  const bpe = trainBpe(BPE_CORPUS, spec.bpeTokens);
  const first = specialTokenIds(spec).endOfText;
  const specials = SPECIAL_TOKENS.map((content, i) => ({ id: first + i, content }));
  const vocab = [...bpe.vocab.entries(), ...specials.map((s): [string, number] => [s.content, s.id])];
  if (vocab.length !== vocabSize(spec) || vocab.some(([, id], i) => id !== i)) {
    throw new Error(`${spec.id}: vocab ids are not 0..${vocabSize(spec) - 1} in order`);
  }
  const addedToken = (content: string) => ({
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((s) => ({ id: s.id, ...addedToken(s.content) })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: '__VOCAB__',
      merges: '__MERGES__',
    },
  };
  const vocabJson = `{\n${vocab.map(([token, id]) => `      ${JSON.stringify(token)}: ${id}`).join(',\n')}\n    }`;
  const mergesJson = `[\n${bpe.merges.map((m) => `      ${JSON.stringify(m)}`).join(',\n')}\n    ]`;
  const tokenizerJson = JSON.stringify(tokenizer, null, 2)
    .replace('"__VOCAB__"', () => vocabJson)
    .replace('"__MERGES__"', () => mergesJson);

  const [endOfText, imStart, imEnd] = SPECIAL_TOKENS;
  const tokenizerConfig = {
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      specials.map((s) => {
        const { content, lstrip, normalized, rstrip, single_word, special } = addedToken(s.content);
        return [String(s.id), { content, lstrip, normalized, rstrip, single_word, special }];
      }),
    ),
    additional_special_tokens: [imStart, imEnd],
    bos_token: endOfText,
    chat_template: CHATML_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: imEnd,
    errors: 'replace',
    model_max_length: spec.maxPositions,
    pad_token: endOfText,
    split_special_tokens: false,
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: null,
  };
  return { tokenizerJson: tokenizerJson + '\n', tokenizerConfig };
}
