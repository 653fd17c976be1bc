import { describe, expect, it } from 'vitest';
import { chunkFrame, MAX_TRANSFER_BYTES, MESH_CHUNK_BYTES } from '../protocol/mesh.ts';
import { HIGH_WATER_BYTES, MeshEndpoint, type MeshChannel } from './mesh-transfer.ts';

/**
 * One direction of an in-memory connection: frames wait in a send buffer that drains `drainPerTick` bytes per
 * macrotask into the other end, like a data channel's bufferedAmount. `tamper` may rewrite frames in flight.
 */
class FakeChannel implements MeshChannel {
  open = true;
  bufferedAmount = 0;
  maxBuffered = 0;
  private queue: Array<string | Uint8Array> = [];
  private waiters: Array<() => void> = [];
  peer: FakeChannel | null = null;
  endpoint: MeshEndpoint | null = null;
  tamper: (frame: string | Uint8Array) => string | Uint8Array | null = (f) => f;

  constructor(private readonly drainPerTick = 256 * 1024) {}

  send(data: string | Uint8Array) {
    if (!this.open) throw new Error('closed');
    const frame = typeof data === 'string' ? data : data.slice();
    this.queue.push(frame);
    this.bufferedAmount += typeof frame === 'string' ? frame.length : frame.length;
    this.maxBuffered = Math.max(this.maxBuffered, this.bufferedAmount);
    if (this.queue.length === 1) setImmediate(() => this.pump());
  }

  private pump() {
    let budget = this.drainPerTick;
    while (this.queue.length && budget > 0) {
      const frame = this.queue.shift()!;
      const size = typeof frame === 'string' ? frame.length : frame.length;
      budget -= size;
      this.bufferedAmount -= size;
      const delivered = this.tamper(frame);
      if (delivered !== null && this.peer?.open) this.peer.endpoint?.receive(delivered);
    }
    if (this.bufferedAmount <= HIGH_WATER_BYTES / 4) for (const w of this.waiters.splice(0)) w();
    if (this.queue.length) setImmediate(() => this.pump());
  }

  drained() {
    return this.bufferedAmount <= HIGH_WATER_BYTES / 4 || !this.open ? Promise.resolve() : new Promise<void>((r) => this.waiters.push(r));
  }

  close() {
    this.open = false;
    for (const w of this.waiters.splice(0)) w();
  }
}

function pair() {
  const a = new FakeChannel();
  const b = new FakeChannel();
  a.peer = b;
  b.peer = a;
  const received: { a: Uint8Array[]; b: Uint8Array[] } = { a: [], b: [] };
  const logs: string[] = [];
  a.endpoint = new MeshEndpoint(a, { onPayload: (p) => received.a.push(p), onLog: (m) => logs.push(m) });
  b.endpoint = new MeshEndpoint(b, { onPayload: (p) => received.b.push(p), onLog: (m) => logs.push(m) });
  return { a, b, sender: a.endpoint, receiver: b.endpoint, received, logs };
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

describe('MeshEndpoint', () => {
  it('moves 5 MB intact, keeping the send buffer under its high-water mark', async () => {
    const { a, sender, received } = pair();
    const payload = randomBytes(5 * 1024 * 1024 + 123);
    await sender.send(payload);
    expect(received.b).toHaveLength(1);
    // Compared as bytes (a deep toEqual over 5 MB takes most of a minute).
    expect(Buffer.compare(received.b[0]!, payload)).toBe(0);
    expect(received.b[0]!.length).toBe(payload.length);
    expect(a.maxBuffered).toBeLessThanOrEqual(HIGH_WATER_BYTES + MESH_CHUNK_BYTES + 8 + 200);
  });

  it('moves an empty payload and several payloads in turn, both ways', async () => {
    const { a, b, received } = pair();
    await a.endpoint!.send(new Uint8Array(0));
    await a.endpoint!.send(Uint8Array.of(1, 2, 3));
    await b.endpoint!.send(Uint8Array.of(9));
    expect(received.b).toEqual([new Uint8Array(0), Uint8Array.of(1, 2, 3)]);
    expect(received.a).toEqual([Uint8Array.of(9)]);
  });

  it('refuses a payload altered in flight (SHA-256), and delivers nothing', async () => {
    const { a, sender, received } = pair();
    a.tamper = (f) => (typeof f === 'string' ? f : (f[100] = (f[100] ?? 0) ^ 1, f));
    await expect(sender.send(randomBytes(100_000))).rejects.toThrow(/SHA-256/);
    expect(received.b).toEqual([]);
  });

  it('refuses chunks out of order and a short payload', async () => {
    const reordered = pair();
    let held: Uint8Array | null = null;
    reordered.a.tamper = (f) => {
      if (typeof f === 'string') return f;
      if (new DataView(f.buffer, f.byteOffset).getUint32(4) === 1 && !held) return (held = f), null;
      return f;
    };
    await expect(reordered.sender.send(randomBytes(MESH_CHUNK_BYTES * 3))).rejects.toThrow(/chunk 2 arrived where 1 was expected/);

    const short = pair();
    short.a.tamper = (f) => (typeof f !== 'string' && new DataView(f.buffer, f.byteOffset).getUint32(4) === 2 ? null : f);
    await expect(short.sender.send(randomBytes(MESH_CHUNK_BYTES * 3))).rejects.toThrow(`received ${MESH_CHUNK_BYTES * 2} of ${MESH_CHUNK_BYTES * 3} bytes`);
    expect([...reordered.received.b, ...short.received.b]).toEqual([]);
  });

  it('refuses more bytes than announced', async () => {
    const { b, receiver, received } = pair();
    const sent: Array<Record<string, unknown>> = [];
    b.peer = null;
    Object.assign(b, { send: (d: string | Uint8Array) => typeof d === 'string' && sent.push(JSON.parse(d)) });
    receiver.receive(JSON.stringify({ type: 'transfer-start', transferId: 7, bytes: 10, sha256: '0'.repeat(64) }));
    receiver.receive(chunkFrame(7, 0, new Uint8Array(11)));
    expect(sent).toEqual([{ type: 'transfer-result', transferId: 7, ok: false, error: 'more than the announced 10 bytes' }]);
    receiver.receive(JSON.stringify({ type: 'transfer-end', transferId: 7 }));
    expect(sent).toHaveLength(1);
    expect(received.b).toEqual([]);
  });

  it('drops malformed frames and announcements over the limit without throwing', () => {
    const { receiver, logs } = pair();
    for (const raw of ['{', '[]', JSON.stringify({ type: 'transfer-start', transferId: 1, bytes: MAX_TRANSFER_BYTES + 1, sha256: '0'.repeat(64) }), 'x'.repeat(5000), 42, new Uint8Array(3), new Uint8Array(MESH_CHUNK_BYTES + 9)])
      expect(() => receiver.receive(raw)).not.toThrow();
    expect(logs).toHaveLength(7);
  });

  it('refuses to send more than the limit, and fails a transfer whose connection closes', async () => {
    const { a, sender } = pair();
    await expect(sender.send(new Uint8Array(MAX_TRANSFER_BYTES + 1))).rejects.toThrow(/at most/);
    const sending = sender.send(randomBytes(3 * 1024 * 1024));
    setImmediate(() => {
      a.close();
      sender.closed();
    });
    await expect(sending).rejects.toThrow(/closed/);
  });

  it('measures a round trip with ping and pong', async () => {
    const { sender } = pair();
    expect(await sender.ping()).toBeGreaterThanOrEqual(0);
  });
});
