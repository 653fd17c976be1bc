import { describe, expect, it } from 'vitest';
import { StopSequenceScanner } from './stop-sequences.ts';

/** Feeds the text one character at a time, like a token stream, and returns what was streamed. */
function stream(text: string, stops: string[]) {
  const scanner = new StopSequenceScanner(stops);
  let out = '';
  for (let i = 1; i <= text.length; i++) {
    const scan = scanner.scan(text.slice(0, i));
    out += scan.delta;
    if (scan.stopped) return { out, stopped: true, visible: scanner.visible };
  }
  out += scanner.finish(text);
  return { out, stopped: false, visible: scanner.visible };
}

describe('StopSequenceScanner', () => {
  it('streams everything when there are no stops', () => {
    expect(stream('hello world', [])).toEqual({ out: 'hello world', stopped: false, visible: 'hello world' });
  });

  it('cuts at the first stop sequence and never shows it', () => {
    expect(stream('one. two. three', ['. t'])).toEqual({ out: 'one', stopped: true, visible: 'one' });
    expect(stream('abcXYdef', ['XYZ', 'Yd'])).toEqual({ out: 'abcX', stopped: true, visible: 'abcX' });
  });

  it('holds back a possible start of a stop sequence and releases it when it is not one', () => {
    const scanner = new StopSequenceScanner(['END']);
    expect(scanner.scan('the E').delta).toBe('the ');
    expect(scanner.scan('the EN').delta).toBe('');
    expect(scanner.scan('the ENd').delta).toBe('ENd');
    expect(scanner.finish('the ENd')).toBe('');
  });

  it('releases a held-back prefix when the completion ends', () => {
    expect(stream('fine EN', ['END'])).toEqual({ out: 'fine EN', stopped: false, visible: 'fine EN' });
  });

  it('finds a stop sequence completed by a whole multi-character delta', () => {
    const scanner = new StopSequenceScanner(['</s>']);
    expect(scanner.scan('a <').delta).toBe('a ');
    expect(scanner.scan('a </s> b')).toEqual({ delta: '', stopped: true });
    expect(scanner.visible).toBe('a ');
  });
});
