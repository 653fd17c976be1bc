/**
 * The coordinator's own WebRTC peer: the stock peerjs client in Node (node-datachannel underneath), registered with
 * the coordinator's signalling under a reserved id. It calls contributor tabs and carries their tab protocol over a
 * reliable, ordered data channel ('raw' serialization: our messages are JSON text already).
 */
import { installNodeWebRtc } from './node-webrtc.ts';

/** One open data channel to a tab. Text in, text out. */
export interface RtcChannel {
  send(text: string): void;
  close(): void;
  onMessage(handler: (text: unknown) => void): void;
  onClose(handler: () => void): void;
}

export interface CoordinatorPeer {
  readonly id: string;
  /** Opens a data channel to `peerId`; rejects when it does not open within `timeoutMs`. */
  connect(peerId: string, timeoutMs: number): Promise<RtcChannel>;
  close(): void;
}

export interface CoordinatorPeerOptions {
  /** Where the coordinator's own signalling listens. */
  port: number;
  host: string;
  key: string;
  id: string;
  token: string;
  iceServers: RTCIceServer[];
  /** Local address for ICE (libdatachannel's bindAddress); unset: all interfaces. */
  bindAddress?: string;
  log: (message: string) => void;
}

export async function startCoordinatorPeer(options: CoordinatorPeerOptions): Promise<CoordinatorPeer> {
  installNodeWebRtc();
  const { Peer } = await import('peerjs');
  const rtcConfig = { iceServers: options.iceServers, ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}) } as RTCConfiguration;
  const peer = new Peer(options.id, { host: options.host, port: options.port, path: '/peerjs', key: options.key, token: options.token, secure: false, debug: 0, config: rtcConfig });
  await new Promise<void>((resolve, reject) => {
    peer.once('open', () => resolve());
    peer.once('error', reject);
  });
  peer.on('error', (error) => options.log(`webrtc: ${error.type}: ${error.message}`));
  peer.on('disconnected', () => {
    if (!peer.destroyed) setTimeout(() => peer.reconnect(), 1000).unref();
  });
  // Tabs do not call the coordinator; only it calls them.
  peer.on('connection', (conn) => conn.close());
  // peerjs keeps an (empty) list per remote peer ever called, and messages for connections it does not know;
  // every tab session brings a new peer id, so both would grow for as long as the coordinator runs.
  const internals = peer as unknown as { _connections?: Map<string, unknown[]>; _lostMessages?: Map<string, unknown[]> };
  const forget = (peerId: string) =>
    setImmediate(() => {
      if (internals._connections?.get(peerId)?.length === 0) internals._connections.delete(peerId);
    });
  const sweep = setInterval(() => internals._lostMessages?.clear(), 60_000);
  sweep.unref();

  return {
    id: options.id,
    connect(peerId, timeoutMs) {
      // peerjs returns no connection while its signalling socket is down (it reconnects within seconds).
      const conn = peer.disconnected || peer.destroyed ? undefined : peer.connect(peerId, { reliable: true, serialization: 'raw' });
      if (!conn) return Promise.reject(new Error('the coordinator peer is not connected to signalling'));
      conn.once('close', () => forget(peerId));
      return new Promise<RtcChannel>((resolve, reject) => {
        const fail = (reason: string) => {
          clearTimeout(timer);
          conn.close();
          forget(peerId);
          reject(new Error(reason));
        };
        let opened = false;
        const timer = setTimeout(() => fail(`no data channel to ${peerId} within ${timeoutMs} ms`), timeoutMs);
        conn.once('error', (error) => !opened && fail(error.message));
        conn.once('close', () => !opened && fail('the connection closed before it opened'));
        conn.once('open', () => {
          opened = true;
          clearTimeout(timer);
          resolve({
            send: (text) => void conn.send(text),
            close: () => conn.close(),
            onMessage: (handler) => void conn.on('data', handler),
            onClose: (handler) => void conn.on('close', handler),
          });
        });
      });
    },
    close: () => {
      clearInterval(sweep);
      peer.destroy();
    },
  };
}
