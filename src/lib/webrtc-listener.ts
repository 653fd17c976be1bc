/**
 * The tab's side of the WebRTC link: registers with the coordinator's PeerJS signalling under the peer id the
 * coordinator gave it (in `accepted`), and takes the data connection the coordinator opens — from no one else:
 * the signalling server stamps every offer with its sender's registered id.
 */
import { Peer, type DataConnection } from 'peerjs';
import type { WebRtcInvitation } from '../protocol/tab.ts';
import { PeerMesh } from './peer-mesh.ts';

export interface DataChannelLink {
  send(text: string): void;
  close(): void;
  readonly open: boolean;
}

export interface WebRtcListenerEvents {
  /** Registered with the signalling server: the coordinator may call now. */
  onListening(): void;
  onUnavailable(reason: string): void;
  onOpen(channel: DataChannelLink): void;
  onMessage(channel: DataChannelLink, raw: unknown): void;
  onClose(channel: DataChannelLink): void;
  /** A payload another tab sent over the mesh. */
  onMeshPayload(from: string, payload: Uint8Array): void;
  onLog(message: string): void;
}

export interface WebRtcListener {
  /** Connections to other tabs, on the same peer. */
  mesh: PeerMesh | null;
  close(): void;
}

export function listenForCoordinator(invitation: WebRtcInvitation, events: WebRtcListenerEvents): WebRtcListener {
  if (typeof RTCPeerConnection === 'undefined') {
    events.onUnavailable('this browser has no WebRTC');
    return { mesh: null, close() {} };
  }
  const secure = location.protocol === 'https:';
  const peer = new Peer(invitation.peerId, {
    host: location.hostname,
    port: Number(location.port) || (secure ? 443 : 80),
    path: invitation.path,
    key: invitation.key,
    token: invitation.token,
    secure,
    debug: 0,
    config: { iceServers: invitation.iceServers },
  });
  let closed = false;
  let listening = false;
  const mesh = new PeerMesh(peer, { onPayload: events.onMeshPayload, onLog: events.onLog });
  peer.on('open', () => {
    if (listening) return;
    listening = true;
    events.onListening();
  });
  peer.on('error', (error) => {
    events.onLog(`webrtc: ${error.type}: ${error.message}`);
    if (!listening && (error.type === 'unavailable-id' || error.type === 'server-error' || error.type === 'browser-incompatible')) events.onUnavailable(error.message);
  });
  peer.on('disconnected', () => {
    if (!closed && !peer.destroyed) setTimeout(() => !closed && peer.reconnect(), 2000);
  });
  peer.on('connection', (conn: DataConnection) => {
    if (conn.peer !== invitation.coordinatorPeerId) {
      if (!mesh.accept(conn)) events.onLog(`refused a data connection from ${conn.peer}, which the coordinator did not announce`);
      return;
    }
    const channel: DataChannelLink = {
      send: (text) => void conn.send(text),
      close: () => conn.close(),
      get open() {
        return conn.open;
      },
    };
    conn.on('open', () => events.onOpen(channel));
    conn.on('data', (raw) => events.onMessage(channel, raw));
    conn.on('close', () => events.onClose(channel));
  });
  return {
    mesh,
    close() {
      closed = true;
      mesh.close();
      peer.destroy();
    },
  };
}
