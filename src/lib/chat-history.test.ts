import { describe, expect, it } from 'vitest';
import { historyFor, type Turn } from './chat-history.ts';

describe('historyFor', () => {
  it('sends the answered turns, roles and text only, then the new message', () => {
    const turns: Turn[] = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello', backend: 'wasm', seed: 4 },
    ];
    expect(historyFor(turns, 'More')).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'More' },
    ]);
  });

  it('leaves out a failed exchange, question and reply, but keeps a stopped reply', () => {
    const turns: Turn[] = [
      { role: 'user', content: 'A' },
      { role: 'assistant', content: '', error: 'no tabs' },
      { role: 'user', content: 'B' },
      { role: 'assistant', content: 'par', stopped: true },
    ];
    expect(historyFor(turns, 'C')).toEqual([
      { role: 'user', content: 'B' },
      { role: 'assistant', content: 'par' },
      { role: 'user', content: 'C' },
    ]);
  });
});
