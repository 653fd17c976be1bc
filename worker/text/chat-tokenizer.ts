/**
 * Text <-> token ids for one model: the Hugging Face tokenizer (tokenizer.json, through @huggingface/tokenizers,
 * offline) and the model's Jinja chat template (tokenizer_config.json, through @huggingface/jinja).
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import type { PlainMessage } from '../../src/protocol/api.ts';
import type { TokenPiece } from '../../src/protocol/worker.ts';


export interface ChatTokenizer {
  /** The conversation through the chat template, ending with the assistant's turn opened, as token ids. */
  encodeChat(messages: PlainMessage[]): number[];
  encode(text: string): number[];
  /** Decodes ids to text, dropping special tokens. */
  decode(ids: readonly number[]): string;
  piece(id: number): TokenPiece;
}

/** GPT-2's byte-to-unicode table, inverted: the printable character standing for each byte in byte-level BPE. */
function byteLevelDecoderTable(): Map<string, number> {
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = [...bytes];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(256 + n++);
    }
  }
  return new Map(bytes.map((b, i) => [String.fromCodePoint(chars[i] as number), b]));
}

export function createChatTokenizer(tokenizerJson: object, tokenizerConfig: Record<string, unknown>): ChatTokenizer {
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const templateSource = tokenizerConfig['chat_template'];
  if (typeof templateSource !== 'string') throw new Error('tokenizer_config.json has no chat_template');
  const template = new Template(templateSource);
  const decoderType = (tokenizerJson as { decoder?: { type?: string } }).decoder?.type;
  const byteTable = decoderType === 'ByteLevel' ? byteLevelDecoderTable() : null;
  const specialIds = new Set(tokenizer.get_added_tokens_decoder().keys());
  const utf8 = new TextEncoder();
  const specialToken = (name: string) => {
    const value = tokenizerConfig[name];
    return typeof value === 'string' ? value : (value as { content?: string } | undefined)?.content ?? '';
  };

  return {
    encodeChat(messages) {
      const prompt = template.render({
        messages,
        add_generation_prompt: true,
        bos_token: specialToken('bos_token'),
        eos_token: specialToken('eos_token'),
      });
      return tokenizer.encode(prompt, { add_special_tokens: false }).ids;
    },
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
    // Cleanup of tokenization spaces would rewrite earlier text (" ," -> ","), breaking incremental decoding.
    decode: (ids) => (ids.length ? tokenizer.decode([...ids], { skip_special_tokens: true, clean_up_tokenization_spaces: false }) : ''),
    piece(id) {
      const text = tokenizer.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
      const raw = tokenizer.id_to_token(id);
      if (byteTable && raw !== undefined && !specialIds.has(id)) {
        const bytes = [...raw].map((ch) => byteTable.get(ch));
        if (bytes.every((b) => b !== undefined)) return { text, bytes: bytes as number[] };
      }
      return { text, bytes: [...utf8.encode(text)] };
    },
  };
}
