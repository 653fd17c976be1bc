/**
 * What the coordinator checks of a job's stream without running the model: everything the requester sees that is a
 * function of the task and the token ids. Each token's text and bytes (and its alternatives'), the visible text
 * deltas and the held-back tail (replayed through the generation loop's own incremental decoder and stop-sequence
 * scanner, worker/generate.ts), no token after a stop sequence ended the completion, and the prompt's token
 * count. A tab cannot stream text other than its tokens', or bill a prompt of another size. Which ids and
 * logprobs are right needs the model: that is for audits (coordinator/trust/).
 */
import type { PlainMessage } from '../../src/protocol/api.ts';
import type { SamplingParams, TokenCandidate, TokenEntry } from '../../src/protocol/tab.ts';
import type { ChatTokenizer } from '../../worker/text/chat-tokenizer.ts';
import { IncrementalDecoder } from '../../worker/text/incremental-decoder.ts';
import { StopSequenceScanner } from '../../worker/text/stop-sequences.ts';

export interface StreamCheck {
  /** The next tokens of the job, in order; a violation, or null. */
  tokens(entries: readonly TokenEntry[]): string | null;
  /** How the job ended; a violation, or null. */
  done(end: { text: string; promptTokens: number }): string | null;
}

/** A model's tokenizer with a cache of single-token pieces (the same ids recur across jobs). */
export class PieceBook {
  private readonly pieces = new Map<number, { text: string; bytes: string }>();

  constructor(readonly tokenizer: ChatTokenizer) {}

  /** Whether `candidate` names its id's token exactly (text and bytes). */
  matches(candidate: TokenCandidate): boolean {
    let piece = this.pieces.get(candidate.id);
    if (!piece) {
      const { text, bytes } = this.tokenizer.piece(candidate.id);
      piece = { text, bytes: bytes.join(',') };
      if (this.pieces.size < 1_000_000) this.pieces.set(candidate.id, piece);
    }
    return piece.text === candidate.token && piece.bytes === candidate.bytes.join(',');
  }
}

export function streamCheck(book: PieceBook, task: { messages: PlainMessage[]; params: SamplingParams }): StreamCheck {
  const decoder = new IncrementalDecoder(book.tokenizer.decode);
  const stops = new StopSequenceScanner(task.params.stop);
  return {
    tokens(entries) {
      for (const entry of entries) {
        if (stops.stopped) return `token ${entry.index} came after a stop sequence ended the completion`;
        if (!book.matches(entry.token)) return `token ${entry.index} does not carry the text and bytes of token id ${entry.token.id}`;
        const alternative = entry.top.find((t) => !book.matches(t));
        if (alternative) return `an alternative at token ${entry.index} does not carry the text and bytes of token id ${alternative.id}`;
        decoder.push(entry.token.id);
        const { delta } = stops.scan(decoder.text);
        if (entry.text !== delta) return `token ${entry.index} streams text its tokens do not decode to`;
      }
      return null;
    },
    done(end) {
      decoder.finish();
      if (end.text !== stops.finish(decoder.text)) return 'the final text is not what the tokens decode to';
      const promptTokens = book.tokenizer.encodeChat(task.messages).length;
      if (end.promptTokens !== promptTokens) return `done reports ${end.promptTokens} prompt tokens; the prompt has ${promptTokens}`;
      return null;
    },
  };
}
