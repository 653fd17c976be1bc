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

  return {
    id: options.id,
    connect(peerId, timeoutMs) {
      const conn = peer.connect(peerId, { reliable: true, serialization: 'raw' });
      return new Promise<RtcChannel>((resolve, reject) => {
        const fail = (reason: string) => {
          clearTimeout(timer);
          conn.close();
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
    close: () => peer.destroy(),
  };
}
