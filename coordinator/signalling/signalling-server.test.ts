import { describe, expect, it } from 'vitest';
import { ERRORS, SIGNALLING_DEFAULTS, SignallingServer, type PeerSocket, type SignallingOptions } from './signalling-server.ts';

class FakeSocket implements PeerSocket {
  sent: Array<Record<string, unknown>> = [];
  closedWith: { code: number; reason: string } | null = null;
  broken = false;
  send(text: string) {
    if (this.broken) throw new Error('broken pipe');
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }
  close(code: number, reason: string) {
    this.closedWith ??= { code, reason };
  }
  types() {
    return this.sent.map((m) => m.type);
  }
}

/** Payloads as the peerjs 1.5 client sends them; `n` tells them apart. */
const offer = (n = 1) => ({ type: 'data', connectionId: `dc_${n}`, sdp: { type: 'offer', sdp: `v=0 offer ${n}` }, serialization: 'raw', reliable: true });
const answer = (n = 1) => ({ type: 'data', connectionId: `dc_${n}`, sdp: { type: 'answer', sdp: `v=0 answer ${n}` } });
const candidate = (n = 1) => ({ type: 'data', connectionId: `dc_${n}`, candidate: { candidate: `candidate:${n}`, sdpMid: '0', sdpMLineIndex: null } });

function setup(overrides: Partial<SignallingOptions> = {}) {
  let now = 1_000;
  const logs: string[] = [];
  const server = new SignallingServer({ ...SIGNALLING_DEFAULTS, key: 'k', now: () => now, log: (m) => logs.push(m), ...overrides });
  const connect = (id: string, token = `t-${id}`) => {
    const socket = new FakeSocket();
    const connection = server.open({ key: 'k', id, token }, socket);
    return { socket, connection, say: (m: unknown) => connection.receive(JSON.stringify(m)) };
  };
  return { server, connect, logs, advance: (ms: number) => (now += ms) };
}

describe('SignallingServer registration', () => {
  it('opens a peer with key, id and token', () => {
    const { server, connect } = setup();
    const a = connect('alice');
    expect(a.socket.sent).toEqual([{ type: 'OPEN' }]);
    expect(server.has('alice')).toBe(true);
    expect(server.size).toBe(1);
  });

  it('refuses missing parameters and a wrong key with ERROR, and closes the socket', () => {
    const { server } = setup();
    const missing = new FakeSocket();
    server.open({ key: 'k', id: 'a' }, missing);
    expect(missing.sent).toEqual([{ type: 'ERROR', payload: { msg: ERRORS.missingParameters } }]);
    expect(missing.closedWith).not.toBeNull();
    const wrongKey = new FakeSocket();
    server.open({ key: 'nope', id: 'a', token: 't' }, wrongKey);
    expect(wrongKey.sent).toEqual([{ type: 'ERROR', payload: { msg: ERRORS.invalidKey } }]);
    const badId = new FakeSocket();
    server.open({ key: 'k', id: 'no/slashes', token: 't' }, badId);
    expect(badId.types()).toEqual(['ERROR']);
    expect(server.size).toBe(0);
  });

  it('answers ID-TAKEN to a second peer with the same id and another token', () => {
    const { server, connect } = setup();
    const first = connect('alice', 'one');
    const second = connect('alice', 'two');
    expect(second.socket.sent).toEqual([{ type: 'ID-TAKEN', payload: { msg: ERRORS.idTaken } }]);
    expect(second.socket.closedWith).not.toBeNull();
    expect(first.socket.closedWith).toBeNull();
    // The impostor's socket closing does not unregister the real peer.
    second.connection.closed();
    expect(server.has('alice')).toBe(true);
  });

  it('lets the same id and token reconnect, replacing the old socket', () => {
    const { server, connect } = setup();
    const old = connect('alice', 'same');
    const again = connect('alice', 'same');
    expect(again.socket.sent).toEqual([{ type: 'OPEN' }]);
    expect(old.socket.closedWith?.reason).toMatch(/replaced/);
    old.connection.closed();
    expect(server.has('alice')).toBe(true);
    const bob = connect('bob');
    bob.say({ type: 'OFFER', dst: 'alice', payload: offer() });
    expect(again.socket.sent.at(-1)).toMatchObject({ type: 'OFFER', src: 'bob' });
    expect(old.socket.sent).toHaveLength(1);
  });

  it('keeps reserved ids for the holder of their token', () => {
    const { server, connect } = setup({ reserved: new Map([['coordinator', 'secret']]) });
    expect(connect('coordinator', 'guess').socket.types()).toEqual(['ID-TAKEN']);
    expect(connect('coordinator', 'secret').socket.types()).toEqual(['OPEN']);
    for (let i = 0; i < 50; i++) expect(server.newId()).not.toBe('coordinator');
  });

  it('refuses peers beyond the limit', () => {
    const { server, connect } = setup({ maxPeers: 2 });
    connect('a');
    connect('b');
    expect(connect('c').socket.sent).toEqual([{ type: 'ERROR', payload: { msg: ERRORS.tooManyPeers } }]);
    expect(server.size).toBe(2);
  });

  it('hands out fresh ids the peerjs client accepts', () => {
    const { server, connect } = setup();
    const id = server.newId();
    expect(id).toMatch(/^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$/);
    expect(connect(id).socket.types()).toEqual(['OPEN']);
    expect(server.newId()).not.toBe(id);
  });
});

describe('SignallingServer relay', () => {
  it('relays OFFER, ANSWER and CANDIDATE with src stamped by the server', () => {
    const { connect } = setup();
    const a = connect('alice');
    const b = connect('bob');
    a.say({ type: 'OFFER', dst: 'bob', src: 'mallory', payload: offer() });
    b.say({ type: 'ANSWER', dst: 'alice', payload: answer() });
    a.say({ type: 'CANDIDATE', dst: 'bob', payload: candidate() });
    expect(b.socket.sent.slice(1)).toEqual([
      { type: 'OFFER', src: 'alice', dst: 'bob', payload: offer() },
      { type: 'CANDIDATE', src: 'alice', dst: 'bob', payload: candidate() },
    ]);
    expect(a.socket.sent.slice(1)).toEqual([{ type: 'ANSWER', src: 'bob', dst: 'alice', payload: answer() }]);
  });

  it('queues messages for a peer that is not connected yet and delivers them after OPEN', () => {
    const { connect, advance } = setup();
    const a = connect('alice');
    a.say({ type: 'OFFER', dst: 'bob', payload: offer(1) });
    a.say({ type: 'CANDIDATE', dst: 'bob', payload: candidate(2) });
    advance(4_000);
    const b = connect('bob');
    expect(b.socket.sent).toEqual([
      { type: 'OPEN' },
      { type: 'OFFER', src: 'alice', dst: 'bob', payload: offer(1) },
      { type: 'CANDIDATE', src: 'alice', dst: 'bob', payload: candidate(2) },
    ]);
  });

  it('sends each sender one EXPIRE when its queued messages are not collected in time', () => {
    const { server, connect, advance } = setup();
    const a = connect('alice');
    const c = connect('carol');
    a.say({ type: 'OFFER', dst: 'bob', payload: offer() });
    a.say({ type: 'CANDIDATE', dst: 'bob', payload: candidate() });
    c.say({ type: 'OFFER', dst: 'bob', payload: offer(2) });
    advance(SIGNALLING_DEFAULTS.expireMs - 1);
    server.sweep();
    expect(a.socket.types()).toEqual(['OPEN']);
    advance(1);
    server.sweep();
    expect(a.socket.sent.slice(1)).toEqual([{ type: 'EXPIRE', src: 'bob', dst: 'alice' }]);
    expect(c.socket.sent.slice(1)).toEqual([{ type: 'EXPIRE', src: 'bob', dst: 'carol' }]);
    // Expired messages are gone.
    expect(connect('bob').socket.sent).toEqual([{ type: 'OPEN' }]);
  });

  it('does not queue LEAVE or EXPIRE for absent peers', () => {
    const { connect, advance, server } = setup();
    const a = connect('alice');
    a.say({ type: 'LEAVE', dst: 'bob' });
    a.say({ type: 'EXPIRE', dst: 'bob' });
    advance(10_000);
    server.sweep();
    expect(a.socket.types()).toEqual(['OPEN']);
    expect(connect('bob').socket.types()).toEqual(['OPEN']);
  });

  it('bounds the queue of one destination and of the server', () => {
    const { connect, logs } = setup({ maxQueuedPerPeer: 2, maxQueuedTotal: 3 });
    const a = connect('alice');
    for (let i = 0; i < 4; i++) a.say({ type: 'CANDIDATE', dst: 'bob', payload: candidate(i) });
    a.say({ type: 'CANDIDATE', dst: 'carol', payload: candidate(9) });
    a.say({ type: 'CANDIDATE', dst: 'dave', payload: candidate(10) });
    expect(connect('bob').socket.sent.slice(1).map((m) => m.payload)).toEqual([candidate(0), candidate(1)]);
    expect(connect('carol').socket.sent.slice(1).map((m) => m.payload)).toEqual([candidate(9)]);
    expect(connect('dave').socket.sent.slice(1)).toEqual([]);
    expect(logs.filter((l) => l.includes('full'))).toHaveLength(3);
  });

  it('turns a failed send into LEAVE for the sender and forgets the dead peer', () => {
    const { server, connect } = setup();
    const a = connect('alice');
    const b = connect('bob');
    b.socket.broken = true;
    a.say({ type: 'OFFER', dst: 'bob', payload: offer() });
    expect(a.socket.sent.slice(1)).toEqual([{ type: 'LEAVE', src: 'bob', dst: 'alice' }]);
    expect(server.has('bob')).toBe(false);
    expect(b.socket.closedWith).not.toBeNull();
  });

  it('unregisters a peer that sends LEAVE without a destination', () => {
    const { server, connect } = setup();
    const a = connect('alice');
    a.say({ type: 'LEAVE' });
    expect(server.has('alice')).toBe(false);
    expect(a.socket.closedWith).not.toBeNull();
  });

  it('drops malformed, oversized and unknown messages without answering', () => {
    const { server, connect, logs } = setup();
    const a = connect('alice');
    const b = connect('bob');
    a.connection.receive('{not json');
    a.connection.receive(new Uint8Array([1, 2]));
    a.say({ type: 'OPEN' });
    a.say({ type: 'OFFER', dst: 'bob', payload: 'not an object' });
    a.say({ type: 'OFFER', dst: 'bad/id', payload: offer() });
    a.say({ type: 'OFFER', dst: 'bob', payload: { ...offer(), sdp: { type: 'offer', sdp: 'x'.repeat(70_000) } } });
    // What the stock peerjs client would throw on (it trusts relayed payloads): never relayed.
    a.say({ type: 'OFFER', dst: 'bob' });
    a.say({ type: 'OFFER', dst: 'bob', payload: { ...offer(), serialization: 'nonsense' } });
    a.say({ type: 'OFFER', dst: 'bob', payload: { ...offer(), connectionId: undefined } });
    a.say({ type: 'ANSWER', dst: 'bob', payload: { ...answer(), sdp: 'not an object' } });
    a.say({ type: 'CANDIDATE', dst: 'bob', payload: { type: 'data', connectionId: 'dc_1' } });
    expect(a.socket.types()).toEqual(['OPEN']);
    expect(b.socket.types()).toEqual(['OPEN']);
    expect(logs).toHaveLength(11);
    expect(server.size).toBe(2);
  });
});

describe('SignallingServer liveness', () => {
  it('drops a peer silent for aliveMs and keeps one that heartbeats', () => {
    const { server, connect, advance } = setup({ aliveMs: 1_000 });
    const silent = connect('silent');
    const chatty = connect('chatty');
    for (let t = 0; t < 4; t++) {
      advance(400);
      chatty.say({ type: 'HEARTBEAT' });
      server.sweep();
    }
    expect(server.has('silent')).toBe(false);
    expect(silent.socket.closedWith?.reason).toMatch(/heartbeat/);
    expect(server.has('chatty')).toBe(true);
    // A dropped peer's late messages go nowhere.
    silent.say({ type: 'OFFER', dst: 'chatty', payload: offer() });
    expect(chatty.socket.types()).toEqual(['OPEN']);
  });

  it('forgets a peer whose socket closed, so its id is free again', () => {
    const { server, connect } = setup();
    const a = connect('alice', 'one');
    a.connection.closed();
    expect(server.has('alice')).toBe(false);
    expect(connect('alice', 'two').socket.types()).toEqual(['OPEN']);
  });
});

describe('SignallingServer invitations', () => {
  it('with onlyReserved, registers only ids reserved for their token, and release drops them', () => {
    const { server, connect } = setup({ onlyReserved: true, reserved: new Map([['coordinator', 'secret']]) });
    expect(connect('stranger').socket.sent).toEqual([{ type: 'ERROR', payload: { msg: ERRORS.notInvited } }]);
    server.reserve('tab1', 'tok1');
    expect(connect('tab1', 'wrong').socket.types()).toEqual(['ID-TAKEN']);
    const tab = connect('tab1', 'tok1');
    expect(tab.socket.types()).toEqual(['OPEN']);
    expect(connect('coordinator', 'secret').socket.types()).toEqual(['OPEN']);
    server.release('tab1');
    expect(server.has('tab1')).toBe(false);
    expect(tab.socket.closedWith?.reason).toBe('released');
    expect(connect('tab1', 'tok1').socket.types()).toEqual(['ERROR']);
  });

  it('bounds the characters all queues hold', () => {
    const { connect, logs } = setup({ maxQueuedChars: 1000 });
    const a = connect('alice');
    for (let i = 0; i < 10; i++) a.say({ type: 'OFFER', dst: `p${i}`, payload: { ...offer(i), sdp: { type: 'offer', sdp: 'x'.repeat(300) } } });
    expect(logs.filter((l) => l.includes('full'))).toHaveLength(8);
  });
});
