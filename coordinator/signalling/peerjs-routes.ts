/**
 * The HTTP side of PeerJS signalling, mounted at /peerjs (so a peerjs client uses `path: '/peerjs'`):
 *   GET /peerjs/{key}/id      a fresh peer id (text)
 *   GET /peerjs/{key}/peers   peer discovery: always refused (401), peers learn of each other from the coordinator
 *   GET /peerjs/peerjs?key=&id=&token=   the signalling WebSocket
 */
import { Hono } from 'hono';
import type { UpgradeWebSocket } from 'hono/ws';
import type { SignallingConnection, SignallingServer } from './signalling-server.ts';

export function peerjsRoutes(upgradeWebSocket: UpgradeWebSocket, server: SignallingServer, key: string): Hono {
  const routes = new Hono();
  routes.get(
    '/peerjs',
    upgradeWebSocket((c) => {
      const query = c.req.query();
      let connection: SignallingConnection | null = null;
      return {
        onOpen(_event, ws) {
          connection = server.open(query, {
            send: (text) => {
              if (ws.readyState !== 1) throw new Error('socket is not open');
              ws.send(text);
            },
            close: (code, reason) => ws.close(code, reason),
          });
        },
        onMessage(event) {
          connection?.receive(event.data);
        },
        onClose() {
          connection?.closed();
          connection = null;
        },
        onError() {
          connection?.closed();
          connection = null;
        },
      };
    }),
  );
  routes.get('/:key/id', (c) => (c.req.param('key') === key ? c.text(server.newId()) : c.text('Invalid key provided', 401)));
  routes.get('/:key/peers', (c) => c.text('peer discovery is disabled', 401));
  return routes;
}
