/**
 * The tab-to-tab mesh: PeerJS data connections between contributor tabs, on the tab's own registered peer, opened
 * on the coordinator's instruction (`mesh-expect` lets a peer in, `mesh-dial` calls one). Each connection moves
 * payloads with `MeshEndpoint` (chunked, flow-controlled on the channel's bufferedAmount, checked by SHA-256).
 * A connection from a peer the coordinator did not announce is closed at once.
 */
import type { DataConnection, Peer } from 'peerjs';
import { HIGH_WATER_BYTES, MeshEndpoint, type MeshChannel } from './mesh-transfer.ts';

const DIAL_TIMEOUT_MS = 15_000;

export interface PeerMeshEvents {
  onPayload(from: string, payload: Uint8Array): void;
  onLog(message: string): void;
}

function channelOf(conn: DataConnection): MeshChannel {
  return {
    send: (data) => void conn.send(data),
    get open() {
      return conn.open;
    },
    get bufferedAmount() {
      return conn.dataChannel?.bufferedAmount ?? 0;
    },
    drained() {
      const dc = conn.dataChannel;
      if (!dc || dc.readyState !== 'open' || dc.bufferedAmount <= HIGH_WATER_BYTES / 4) return Promise.resolve();
      dc.bufferedAmountLowThreshold = HIGH_WATER_BYTES / 4;
      return new Promise<void>((resolve) => {
        const listening = new AbortController();
        const done = () => {
          listening.abort();
          resolve();
        };
        dc.addEventListener('bufferedamountlow', done, { signal: listening.signal });
        dc.addEventListener('close', done, { signal: listening.signal });
      });
    },
  };
}

export class PeerMesh {
  private readonly expected = new Set<string>();
  private readonly connections = new Map<string, { conn: DataConnection; endpoint: MeshEndpoint }>();

  constructor(
    private readonly peer: Peer,
    private readonly events: PeerMeshEvents,
  ) {}

  get peerId(): string {
    return this.peer.id;
  }

  /** The coordinator announced `peerId`: accept its connection. */
  expect(peerId: string): void {
    this.expected.add(peerId);
  }

  /** An incoming connection; false (and closed) unless the coordinator announced its peer. */
  accept(conn: DataConnection): boolean {
    if (!this.expected.has(conn.peer)) {
      conn.close();
      return false;
    }
    conn.on('open', () => this.wire(conn));
    return true;
  }

  /** Opens a connection to `peerId` (the coordinator said to), resolving once it is open. */
  dial(peerId: string): Promise<void> {
    if (this.connections.has(peerId)) return Promise.resolve();
    const conn = this.peer.connect(peerId, { reliable: true, serialization: 'raw' });
    return new Promise((resolve, reject) => {
      const giveUp = (why: string) => {
        clearTimeout(timer);
        conn.close();
        reject(new Error(`no connection to ${peerId}: ${why}`));
      };
      const timer = setTimeout(() => giveUp(`none within ${DIAL_TIMEOUT_MS} ms`), DIAL_TIMEOUT_MS);
      // A peer that was not told to expect us closes the connection at once: fail now rather than at the timeout.
      conn.on('close', () => giveUp('the peer closed it'));
      conn.on('error', (error) => giveUp(error.message));
      conn.on('open', () => {
        clearTimeout(timer);
        this.wire(conn);
        resolve();
      });
    });
  }

  /** Sends `payload` to a connected peer; resolves when it confirmed receipt intact. */
  send(peerId: string, payload: Uint8Array): Promise<void> {
    const connection = this.connections.get(peerId);
    if (!connection) return Promise.reject(new Error(`not connected to ${peerId}`));
    return connection.endpoint.send(payload);
  }

  /** Round trip to a connected peer, in ms. */
  ping(peerId: string): Promise<number> {
    const connection = this.connections.get(peerId);
    return connection ? connection.endpoint.ping() : Promise.reject(new Error(`not connected to ${peerId}`));
  }

  close(): void {
    for (const { conn } of this.connections.values()) conn.close();
    this.connections.clear();
  }

  private wire(conn: DataConnection): void {
    const endpoint = new MeshEndpoint(channelOf(conn), { onPayload: (payload) => this.events.onPayload(conn.peer, payload), onLog: this.events.onLog });
    this.connections.get(conn.peer)?.conn.close();
    this.connections.set(conn.peer, { conn, endpoint });
    conn.on('data', (raw) => endpoint.receive(raw));
    conn.on('close', () => {
      endpoint.closed();
      if (this.connections.get(conn.peer)?.conn === conn) this.connections.delete(conn.peer);
    });
  }
}
