/**
 * Decodes a growing list of token ids into text without re-decoding the whole completion at every step, and
 * without ever emitting half of a multi-byte character. Keeps a little context before the new tokens (the
 * "prefix"), because some decoders (SentencePiece's leading space, byte fallback) render a token differently
 * depending on what precedes it — the approach of Hugging Face's TextStreamer / text-generation-inference.
 */
export class IncrementalDecoder {
  /** Everything released so far. Only ever grows. */
  text = '';
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly decode: (ids: readonly number[]) => string) {}

  /** Adds a token; returns the text it completes (empty while a character is still incomplete). */
  push(id: number): string {
    this.ids.push(id);
    const prefix = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.decode(this.ids.slice(this.prefixOffset));
    if (full.length <= prefix.length || full.endsWith('\uFFFD')) return '';
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
