/**
 * What the coordinator checks of a job's stream without running the model: everything the requester sees that is a
 * function of the token ids. Each token's id is in the vocabulary and its position within the context; its text and
 * bytes (and its alternatives') are the id's; the visible text deltas and the held-back tail are what the
 * generation loop's own incremental decoder and stop-sequence scanner (worker/generate.ts) make of the ids; no token
 * follows a stop sequence. A tab cannot stream text other than its tokens'. Which ids and logprobs are right — and
 * the prompt's token count, which needs the chat template's tokenization — is for audits (coordinator/trust/).
 * Linear in the tokens: the decoder's window is bounded, stop sequences are short (API_LIMITS.maxStopChars).
 */
import type { SamplingParams, TokenCandidate, TokenEntry } from '../../src/protocol/tab.ts';
import type { ChatTokenizer } from '../../worker/text/chat-tokenizer.ts';
import { IncrementalDecoder } from '../../worker/text/incremental-decoder.ts';
import { StopSequenceScanner } from '../../worker/text/stop-sequences.ts';

export interface StreamCheck {
  /** The next tokens of the job, in order; a violation, or null. */
  tokens(entries: readonly TokenEntry[]): string | null;
  /** How the job ended; a violation, or null. */
  done(end: { text: string }): string | null;
}

/** A model's tokenizer with a cache of single-token pieces (the same ids recur across jobs). */
export class PieceBook {
  private readonly pieces = new Map<number, { text: string; bytes: string }>();

  constructor(
    readonly tokenizer: ChatTokenizer,
    readonly vocabSize: number,
    /** The model's context length: no completion token sits at or beyond it. */
    readonly maxPositions: number,
  ) {}

  /** Whether `candidate` is a token of the vocabulary and names it exactly (text and bytes). */
  matches(candidate: TokenCandidate): boolean {
    if (candidate.id >= this.vocabSize) return false;
    let piece = this.pieces.get(candidate.id);
    if (!piece) {
      const { text, bytes } = this.tokenizer.piece(candidate.id);
      piece = { text, bytes: bytes.join(',') };
      this.pieces.set(candidate.id, piece);
    }
    return piece.text === candidate.token && piece.bytes === candidate.bytes.join(',');
  }
}

export function streamCheck(book: PieceBook, task: { params: SamplingParams }): StreamCheck {
  const decoder = new IncrementalDecoder(book.tokenizer.decode);
  const stops = new StopSequenceScanner(task.params.stop);
  return {
    tokens(entries) {
      for (const entry of entries) {
        if (entry.index >= book.maxPositions) return `token ${entry.index} lies beyond the model's ${book.maxPositions}-token context`;
        if (stops.stopped) return `token ${entry.index} came after a stop sequence ended the completion`;
        if (!book.matches(entry.token)) return `token ${entry.index} is not token id ${entry.token.id} of the vocabulary (its text and bytes)`;
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
      return end.text === stops.finish(decoder.text) ? null : 'the final text is not what the tokens decode to';
    },
  };
}
