/**
 * WebRTC in Node for the coordinator's own peer: node-datachannel's polyfill (libdatachannel underneath), put
 * where the stock peerjs client looks for the browser's classes (globalThis). Call before importing peerjs: it
 * probes for WebRTC support when it loads.
 */
import polyfill from 'node-datachannel/polyfill';
import { WebSocket } from 'ws';

export function installNodeWebRtc(): void {
  Object.assign(globalThis, {
    RTCPeerConnection: polyfill.RTCPeerConnection,
    RTCSessionDescription: polyfill.RTCSessionDescription,
    RTCIceCandidate: polyfill.RTCIceCandidate,
    // Node 20 has no WebSocket global (Node 22 does); peerjs's signalling socket needs one.
    WebSocket: (globalThis as { WebSocket?: unknown }).WebSocket ?? WebSocket,
  });
}
