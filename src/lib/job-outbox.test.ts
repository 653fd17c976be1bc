import { describe, expect, it } from 'vitest';
import type { TabToCoordinator, TokenEntry } from '../protocol/tab.ts';
import { JobOutbox } from './job-outbox.ts';
import type { DataChannelLink } from './webrtc-listener.ts';

const entry = (index: number): TokenEntry => ({ index, token: { id: index, token: `t${index}`, bytes: [116], logprob: -1 }, text: `t${index}`, top: [] });
const tokens = (...indices: number[]) => ({ type: 'tokens' as const, jobId: 'j', tokens: indices.map(entry) });
const done = { type: 'done' as const, jobId: 'j', finishReason: 'stop' as const, text: '', promptTokens: 3, completionTokens: 4, signature: 's'.repeat(86) };

class FakeChannel implements DataChannelLink {
  open = true;
  sent: TabToCoordinator[] = [];
  close() {
    this.open = false;
  }
  send(text: string) {
    this.sent.push(JSON.parse(text) as TabToCoordinator);
  }
}

function setup(onChannel = true) {
  const channel = new FakeChannel();
  const websocket: TabToCoordinator[] = [];
  const outbox = new JobOutbox('j', onChannel ? channel : null, (m) => websocket.push(m));
  const indices = (messages: TabToCoordinator[]) => messages.flatMap((m): Array<number | string> => (m.type === 'tokens' ? m.tokens.map((t) => t.index) : [m.type]));
  return { channel, websocket, outbox, indices };
}

describe('JobOutbox', () => {
  it('sends on the data channel the task came on while it is open', () => {
    const { channel, websocket, outbox, indices } = setup();
    outbox.push(tokens(0));
    outbox.push(tokens(1, 2));
    outbox.push(done);
    expect(indices(channel.sent)).toEqual([0, 1, 2, 'done']);
    expect(websocket).toEqual([]);
    expect(outbox.ended).toBe(true);
  });

  it('sends nothing once abandoned (its session ended), on either link', () => {
    for (const onChannel of [true, false]) {
      const { channel, websocket, outbox } = setup(onChannel);
      outbox.push(tokens(0));
      outbox.abandon();
      outbox.push(tokens(1));
      outbox.push(done);
      expect([...channel.sent, ...websocket]).toHaveLength(1);
    }
  });

  it('holds everything once the channel closed, and resumes on the WebSocket from where the coordinator says', () => {
    const { channel, websocket, outbox, indices } = setup();
    outbox.push(tokens(0));
    outbox.push(tokens(1, 2)); // say this one was lost with the channel
    outbox.channelClosed(channel);
    outbox.push(tokens(3));
    outbox.push(done);
    expect(indices(channel.sent)).toEqual([0, 1, 2]);
    expect(websocket).toEqual([]);

    outbox.resume(1);
    expect(indices(websocket)).toEqual([1, 2, 3, 'done']);
    outbox.push(tokens(4)); // anything later goes straight to the WebSocket
    expect(indices(websocket)).toEqual([1, 2, 3, 'done', 4]);
    expect(outbox.onDataChannel).toBe(false);
  });

  it('holds when the channel is found closed before the close event', () => {
    const { channel, websocket, outbox, indices } = setup();
    outbox.push(tokens(0));
    channel.open = false;
    outbox.push(tokens(1));
    expect(websocket).toEqual([]);
    outbox.resume(0);
    expect(indices(websocket)).toEqual([0, 1]);
  });

  it('answers a resume only once, so nothing is sent twice', () => {
    const { channel, websocket, outbox, indices } = setup();
    outbox.push(tokens(0, 1));
    outbox.channelClosed(channel);
    outbox.resume(0);
    outbox.resume(0);
    expect(indices(websocket)).toEqual([0, 1]);
  });

  it('ignores resume for a job that started on the WebSocket', () => {
    const { websocket, outbox, indices } = setup(false);
    outbox.push(tokens(0, 1));
    outbox.resume(0);
    expect(indices(websocket)).toEqual([0, 1]);
  });

  it('splits a long resume into messages of at most MAX_TOKENS_PER_MESSAGE tokens', () => {
    const { channel, websocket, outbox } = setup();
    for (let i = 0; i < 600; i++) outbox.push(tokens(i));
    outbox.channelClosed(channel);
    outbox.resume(10);
    expect(websocket.map((m) => (m.type === 'tokens' ? m.tokens.length : 0))).toEqual([256, 256, 78]);
  });
});
