import { describe, expect, it } from 'vitest';
import { completionRequest } from './client.ts';

const hi = [{ role: 'user', content: 'Hi' }];

describe('completionRequest', () => {
  it('takes the widget model unless the input names one, and passes the sampling fields it was given', () => {
    expect(completionRequest({ messages: hi }, 'dolphin-tiny')).toEqual({ model: 'dolphin-tiny', messages: hi });
    expect(completionRequest({ messages: hi, model: 'other', max_tokens: 8, temperature: 0, seed: 7, signal: new AbortController().signal }, 'dolphin-tiny')).toEqual({ model: 'other', messages: hi, max_tokens: 8, temperature: 0, seed: 7 });
  });

  it('keeps only role and content of each message', () => {
    expect(completionRequest({ messages: [{ role: 'system', content: 'Be brief', extra: 1 }] }, 'm').messages).toEqual([{ role: 'system', content: 'Be brief' }]);
  });

  it.each([
    [null, /expected an object/],
    [{}, /messages must be a non-empty array/],
    [{ messages: [] }, /messages must be a non-empty array/],
    [{ messages: [{ role: 'robot', content: 'x' }] }, /messages\[0\]\.role must be one of system, developer, user, assistant/],
    [{ messages: [...hi, { role: 'user' }] }, /messages\[1\]\.content must be a string/],
    [{ messages: hi, model: '' }, /model must be a non-empty string/],
    [{ messages: hi, max_tokens: 0 }, /max_tokens must be a positive integer/],
    [{ messages: hi, max_tokens: 1.5 }, /max_tokens must be a positive integer/],
    [{ messages: hi, temperature: 3 }, /temperature must be a number from 0 to 2/],
    [{ messages: hi, temperature: NaN }, /temperature must be a number from 0 to 2/],
    [{ messages: hi, seed: -1 }, /seed must be a non-negative integer/],
    [{ messages: hi, signal: 'stop' }, /signal must be an AbortSignal/],
  ])('rejects %j with a TypeError naming the field', (input, message) => {
    expect(() => completionRequest(input, 'm')).toThrow(TypeError);
    expect(() => completionRequest(input, 'm')).toThrow(message);
  });
});
