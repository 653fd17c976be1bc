/**
 * The WebSocket transport for contributor tabs (`GET /tabs`, upgraded): wraps the socket as a `Link` and feeds a
 * `TabSession`. The WebRTC data channel will be a second `Link` behind the same session.
 */
import type { UpgradeWebSocket, WSContext } from 'hono/ws';
import { openTabSession, type TabSession, type TabSessionDeps } from './tab-session.ts';
import type { Link } from './link.ts';

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

export function tabWebSocketHandler(upgradeWebSocket: UpgradeWebSocket, deps: TabSessionDeps) {
  return upgradeWebSocket(() => {
    let session: TabSession | null = null;
    return {
      onOpen(_event, ws) {
        session = openTabSession(websocketLink(ws), deps);
      },
      onMessage(event) {
        session?.receive(event.data);
      },
      onClose() {
        session?.closed();
        session = null;
      },
      onError() {
        session?.closed();
        session = null;
      },
    };
  });
}
