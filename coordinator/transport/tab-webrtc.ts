/**
 * Moves a tab session onto a WebRTC data channel: when the tab says it is listening, the coordinator's peer calls
 * it; when the channel opens it carries the session (`TabLinks`), and when it drops or cannot be opened the session
 * stays on the WebSocket and the coordinator calls again later, backing off.
 */
import { randomBytes } from 'node:crypto';
import type { WebRtcInvitation } from '../../src/protocol/tab.ts';
import type { CoordinatorPeer } from './coordinator-peer.ts';
import type { Link } from './link.ts';
import type { DataChannelLink, TabLinks } from './tab-links.ts';

export interface TabWebRtcOptions {
  peer: CoordinatorPeer;
  /** The signalling server's reservations: an invited tab's peer id is registrable only with its token. */
  reservations: { reserve(id: string, token: string): void; release(id: string): void };
  key: string;
  iceServers: RTCIceServer[];
  connectTimeoutMs: number;
  /** First wait before calling again after a failure or a drop; doubles up to `maxRetryMs`. */
  retryMs: number;
  maxRetryMs: number;
  log: (message: string) => void;
}

export interface TabWebRtc {
  invitation: WebRtcInvitation;
  /** The tab listens: call it (once; later calls are retries the upgrader schedules itself). */
  listening(): void;
  /** The session ended: close the channel and stop calling. */
  stop(): void;
}

/** `lost` runs after an open channel closed and the links are back on the WebSocket. */
export function tabWebRtc(options: TabWebRtcOptions, tabName: () => string, links: TabLinks, receive: (raw: unknown, via: Link) => void, lost: () => void): TabWebRtc {
  // Unguessable, so only this tab (told over its own WebSocket) can register it.
  const invitation: WebRtcInvitation = {
    peerId: `t${randomBytes(16).toString('hex')}`,
    token: randomBytes(24).toString('hex'),
    coordinatorPeerId: options.peer.id,
    path: '/peerjs',
    key: options.key,
    iceServers: options.iceServers as WebRtcInvitation['iceServers'],
  };
  options.reservations.reserve(invitation.peerId, invitation.token);
  let started = false;
  let stopped = false;
  let retryMs = options.retryMs;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let current: { link: Link; close: () => void } | null = null;

  const retryLater = () => {
    if (stopped) return;
    retryTimer = setTimeout(call, retryMs);
    retryTimer.unref?.();
    retryMs = Math.min(retryMs * 2, options.maxRetryMs);
  };

  async function call() {
    if (stopped) return;
    const callStarted = performance.now();
    try {
      const channel = await options.peer.connect(invitation.peerId, options.connectTimeoutMs);
      if (stopped) return channel.close();
      // As a Link for replies on this channel (pong), and as the text sender TabLinks uses.
      const link: Link & DataChannelLink = { kind: 'webrtc', send: (m) => channel.send(JSON.stringify(m)), sendText: (text) => channel.send(text), close: () => channel.close() };
      current = { link, close: () => channel.close() };
      channel.onMessage((raw) => {
        if (current?.link === link) receive(raw, link);
      });
      channel.onClose(() => {
        if (current?.link !== link) return;
        links.dropDataChannel(link);
        current = null;
        options.log(`${tabName()}: data channel closed; back on the WebSocket`);
        lost();
        retryLater();
      });
      links.useDataChannel(link);
      retryMs = options.retryMs;
      options.log(`${tabName()}: on a WebRTC data channel (${Math.round(performance.now() - callStarted)} ms to connect)`);
    } catch (error) {
      options.log(`${tabName()}: no data channel (${error instanceof Error ? error.message : String(error)}); staying on the WebSocket`);
      retryLater();
    }
  }

  return {
    invitation,
    listening() {
      if (started || stopped) return;
      started = true;
      void call();
    },
    stop() {
      stopped = true;
      options.reservations.release(invitation.peerId);
      if (retryTimer) clearTimeout(retryTimer);
      current?.close();
      current = null;
    },
  };
}
