/**
 * Decodes a growing list of token ids into text without re-decoding the whole completion at every step, and
 * without ever emitting half of a multi-byte character. Keeps a little context before the new tokens (the
 * "prefix"), because some decoders (SentencePiece's leading space, byte fallback) render a token differently
 * depending on what precedes it — the approach of Hugging Face's TextStreamer / text-generation-inference.
 */
/** Tokens a window may hold back before it is released regardless (see `push`). */
export const MAX_WINDOW = 32;

export class IncrementalDecoder {
  /** Everything released so far. Only ever grows. */
  text = '';
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly decode: (ids: readonly number[]) => string) {}

  /**
   * Adds a token; returns the text it completes (empty while a character is still incomplete). A window that has
   * released nothing for MAX_WINDOW tokens (no valid character is that long: only special tokens, or bytes that
   * never form one) is released as it stands, so decoding costs stay linear whatever the ids.
   */
  push(id: number): string {
    this.ids.push(id);
    const prefix = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.decode(this.ids.slice(this.prefixOffset));
    const waiting = full.length <= prefix.length || full.endsWith('\uFFFD');
    if (waiting && this.ids.length - this.prefixOffset < MAX_WINDOW) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return this.release(full.slice(prefix.length));
  }

  /** The completion ended: releases what is still pending, incomplete characters included (as U+FFFD). */
  finish(): string {
    const prefix = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    return this.release(full.slice(prefix.length));
  }

  private release(delta: string): string {
    this.text += delta;
    return delta;
  }
}
