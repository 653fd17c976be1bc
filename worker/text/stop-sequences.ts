/**
 * Turns the growing decoded text of a completion into safe-to-stream deltas, honouring stop sequences: text that
 * could be the start of a stop sequence is held back until it is known not to be one, and a completed stop
 * sequence ends the completion with everything from it onwards cut (OpenAI semantics).
 */
export interface StopScan {
  /** New text that may be shown now. */
  delta: string;
  /** True when a stop sequence was found; `delta` then completes the visible text. */
  stopped: boolean;
}

export class StopSequenceScanner {
  /** Everything released so far. Invariant: never contains a stop sequence. */
  visible = '';
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** `text` is the whole completion decoded so far; each call's text extends the previous one's. */
  scan(text: string): StopScan {
    if (this.stopped) return { delta: '', stopped: true };
    const from = this.visible.length;
    let end = -1;
    for (const stop of this.stops) {
      const at = text.indexOf(stop, from);
      if (at >= 0 && (end < 0 || at < end)) end = at;
    }
    if (end >= 0) {
      this.stopped = true;
      return { delta: this.release(text, end), stopped: true };
    }
    return { delta: this.release(text, text.length - this.heldBackLength(text)), stopped: false };
  }

  /** The completion ended: release whatever is still held back (nothing, if a stop sequence ended it). */
  finish(text: string): string {
    return this.stopped ? '' : this.release(text, text.length);
  }

  private release(text: string, upTo: number): string {
    const delta = text.slice(this.visible.length, Math.max(this.visible.length, upTo));
    this.visible += delta;
    return delta;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop sequence. */
  private heldBackLength(text: string): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}
