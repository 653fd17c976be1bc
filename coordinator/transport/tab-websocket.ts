/**
 * The WebSocket transport for contributor tabs (`GET /tabs`, upgraded): wraps the socket as a `Link` and feeds a
 * `TabSession`. With WebRTC configured, the session moves onto a data channel once the tab listens for one
 * (tab-webrtc.ts); the WebSocket stays as its fallback and defines the session's lifetime.
 */
import type { Context } from 'hono';
import type { UpgradeWebSocket, WSContext } from 'hono/ws';
import type { Tab } from '../tabs/tab-registry.ts';
import { openTabSession, type TabSession, type TabSessionDeps } from './tab-session.ts';
import type { Link } from './link.ts';
import { TabLinks } from './tab-links.ts';
import { tabWebRtc, type TabWebRtc, type TabWebRtcOptions } from './tab-webrtc.ts';

function websocketLink(ws: WSContext): Link {
  return {
    kind: 'websocket',
    send(message) {
      if (ws.readyState === 1) ws.send(JSON.stringify(message));
    },
    close(reason) {
      ws.close(1000, reason.slice(0, 120));
    },
  };
}

/**
 * `webrtc` returns the WebRTC settings once the coordinator's peer is up (undefined: WebSocket only); `onAccepted`
 * also hears the client address the tab connected from (the starter stake is rate-limited per address).
 */
export type TabTransportDeps = Omit<TabSessionDeps, 'webrtc' | 'onAccepted'> & {
  webrtc?: () => TabWebRtcOptions | undefined;
  onAccepted?: (tab: Tab, address: string) => void;
  clientAddress?: (c: Context) => string;
};

export function tabWebSocketHandler(upgradeWebSocket: UpgradeWebSocket, deps: TabTransportDeps) {
  return upgradeWebSocket((c) => {
    const address = deps.clientAddress?.(c) ?? 'unknown';
    let session: TabSession | null = null;
    let webrtc: TabWebRtc | null = null;
    let websocket: Link | null = null;
    const ended = () => {
      webrtc?.stop();
      webrtc = null;
      session?.closed();
      session = null;
    };
    return {
      onOpen(_event, ws) {
        websocket = websocketLink(ws);
        const links = new TabLinks(websocket);
        const receive = (raw: unknown, via: Link) => session?.receive(raw, via);
        const { webrtc: rtcSettings, onAccepted, clientAddress: _clientAddress, ...sessionDeps } = deps;
        const rtcOptions = rtcSettings?.();
        const lost = () => session && deps.board.dataChannelLost(session.tab);
        webrtc = rtcOptions ? tabWebRtc(rtcOptions, () => session?.tab.id ?? 'tab', links, receive, lost) : null;
        session = openTabSession(links, { ...sessionDeps, ...(onAccepted ? { onAccepted: (tab: Tab) => onAccepted(tab, address) } : {}), ...(webrtc ? { webrtc: { invitation: webrtc.invitation, listening: webrtc.listening } } : {}) });
      },
      onMessage(event) {
        session?.receive(event.data, websocket ?? undefined);
      },
      onClose: ended,
      onError: ended,
    };
  });
}
