import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CoordinatorToTab } from '../../src/protocol/tab.ts';
import { RecordingLink } from '../../test/unit/tab-peer.ts';
import type { CoordinatorPeer, RtcChannel } from './coordinator-peer.ts';
import { MAX_DATA_CHANNEL_MESSAGE_CHARS, TabLinks } from './tab-links.ts';
import { tabWebRtc, type TabWebRtcOptions } from './tab-webrtc.ts';

class FakeChannel implements RtcChannel {
  sent: string[] = [];
  closed = false;
  private messageHandler: (raw: unknown) => void = () => {};
  private closeHandler: () => void = () => {};
  send(text: string) {
    this.sent.push(text);
  }
  close() {
    this.closed = true;
  }
  onMessage(handler: (raw: unknown) => void) {
    this.messageHandler = handler;
  }
  onClose(handler: () => void) {
    this.closeHandler = handler;
  }
  deliver(raw: unknown) {
    this.messageHandler(raw);
  }
  drop() {
    this.closeHandler();
  }
}

/** A coordinator peer whose calls the test answers: each `connect` waits for `answer`. */
class FakePeer implements CoordinatorPeer {
  readonly id = 'dolphin-coordinator';
  calls: Array<{ peerId: string; settle: (outcome: FakeChannel | Error) => void }> = [];
  connect(peerId: string): Promise<RtcChannel> {
    return new Promise((resolve, reject) => this.calls.push({ peerId, settle: (o) => (o instanceof Error ? reject(o) : resolve(o)) }));
  }
  close() {}
}

const task: CoordinatorToTab = { type: 'resume', jobId: 'j1', from: 3 };

function setup() {
  const peer = new FakePeer();
  const websocket = new RecordingLink();
  const links = new TabLinks(websocket);
  const received: unknown[] = [];
  const logs: string[] = [];
  const reserved = new Map<string, string>();
  const reservations = { reserve: (id: string, token: string) => void reserved.set(id, token), release: (id: string) => void reserved.delete(id) };
  const options: TabWebRtcOptions = { peer, reservations, key: 'k', iceServers: [], connectTimeoutMs: 1000, retryMs: 1000, maxRetryMs: 4000, log: (m) => logs.push(m) };
  let losses = 0;
  const rtc = tabWebRtc(options, () => 'tab-1', links, (raw) => received.push(raw), () => {
    losses++;
    // By the time the session hears of the loss, its messages go by WebSocket.
    expect(links.kind).toBe('websocket');
  });
  const settle = async (outcome: FakeChannel | Error) => {
    peer.calls.at(-1)!.settle(outcome);
    await vi.advanceTimersByTimeAsync(0);
  };
  return { peer, websocket, links, received, logs, rtc, settle, losses: () => losses, reserved };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('tabWebRtc', () => {
  it('invites the tab under an unguessable peer id of its own, reserved to its token until the session ends', () => {
    const first = setup();
    const a = first.rtc.invitation;
    const b = setup().rtc.invitation;
    expect([...first.reserved]).toEqual([[a.peerId, a.token]]);
    expect(a.token).toMatch(/^[0-9a-f]{48}$/);
    first.rtc.stop();
    expect(first.reserved.size).toBe(0);
    expect(a).toMatchObject({ coordinatorPeerId: 'dolphin-coordinator', path: '/peerjs', key: 'k', iceServers: [] });
    expect(a.peerId).toMatch(/^t[0-9a-f]{32}$/);
    expect(a.peerId).not.toBe(b.peerId);
  });

  it('calls once the tab listens, then carries the session over the data channel', async () => {
    const { peer, websocket, links, received, rtc, settle } = setup();
    expect(peer.calls).toHaveLength(0);
    rtc.listening();
    rtc.listening();
    expect(peer.calls.map((c) => c.peerId)).toEqual([rtc.invitation.peerId]);
    const channel = new FakeChannel();
    await settle(channel);

    expect(links.kind).toBe('webrtc');
    links.send(task);
    expect(channel.sent).toEqual([JSON.stringify(task)]);
    expect(websocket.sent).toEqual([]);
    channel.deliver('{"type":"models","models":[]}');
    expect(received).toEqual(['{"type":"models","models":[]}']);
  });

  it('falls back to the WebSocket when the channel drops, and calls again later, backing off', async () => {
    const { peer, websocket, links, received, rtc, settle, losses } = setup();
    rtc.listening();
    const first = new FakeChannel();
    await settle(first);
    expect(losses()).toBe(0);
    first.drop();
    expect(losses()).toBe(1);
    expect(links.kind).toBe('websocket');
    links.send(task);
    expect(websocket.sent).toEqual([task]);
    first.deliver('late');
    expect(received).toEqual([]);

    await vi.advanceTimersByTimeAsync(999);
    expect(peer.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(peer.calls).toHaveLength(2);
    await settle(new Error('ICE failed'));
    await vi.advanceTimersByTimeAsync(1999);
    expect(peer.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(peer.calls).toHaveLength(3);
    await settle(new FakeChannel());
    expect(links.kind).toBe('webrtc');
  });

  it('stops calling and closes the channel when the session ends', async () => {
    const { peer, rtc, settle } = setup();
    rtc.listening();
    const channel = new FakeChannel();
    await settle(channel);
    rtc.stop();
    expect(channel.closed).toBe(true);
    channel.drop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(peer.calls).toHaveLength(1);
  });

  it('closes a channel that opens after the session ended', async () => {
    const { links, rtc, settle } = setup();
    rtc.listening();
    rtc.stop();
    const late = new FakeChannel();
    await settle(late);
    expect(late.closed).toBe(true);
    expect(links.kind).toBe('websocket');
  });
});

describe('TabLinks', () => {
  it('sends a message too big for one data-channel message over the WebSocket', () => {
    const websocket = new RecordingLink();
    const rtc = new RecordingLink();
    const links = new TabLinks(websocket);
    links.useDataChannel({ sendText: (text) => rtc.send(JSON.parse(text) as CoordinatorToTab), close: (r) => rtc.close(r) });
    const big: CoordinatorToTab = { type: 'error', code: 'x', message: 'm'.repeat(MAX_DATA_CHANNEL_MESSAGE_CHARS) };
    links.send(big);
    links.send(task);
    expect(websocket.sent).toEqual([big]);
    expect(rtc.sent).toEqual([task]);
  });

  it('sends cancel and audit work over the WebSocket, where a dying channel cannot lose them', () => {
    const websocket = new RecordingLink();
    const rtc = new RecordingLink();
    const links = new TabLinks(websocket);
    links.useDataChannel({ sendText: (text) => rtc.send(JSON.parse(text) as CoordinatorToTab), close: (r) => rtc.close(r) });
    const messages: CoordinatorToTab[] = [
      { type: 'cancel', jobId: 'j1' },
      { type: 'audit', auditId: 'a1', model: 'm', transcriptSha256: '0'.repeat(64), tolerances: { epsilon: 0, delta: 0, tau: 0 }, timeoutMs: 120_000, from: 'peer1' },
      { type: 'share', auditId: 'a1', jobId: 'j0', to: 'peer2' },
    ];
    for (const m of messages) links.send(m);
    expect(websocket.sent).toEqual(messages);
    expect(rtc.sent).toEqual([]);
  });

  it('closes both links', () => {
    const websocket = new RecordingLink();
    const rtc = new RecordingLink();
    const links = new TabLinks(websocket);
    links.useDataChannel({ sendText: (text) => rtc.send(JSON.parse(text) as CoordinatorToTab), close: (r) => rtc.close(r) });
    links.close('protocol_error');
    expect([websocket.closes, rtc.closes]).toEqual([['protocol_error'], ['protocol_error']]);
    expect(links.kind).toBe('websocket');
  });
});
