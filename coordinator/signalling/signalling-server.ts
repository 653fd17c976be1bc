/**
 * The PeerJS signalling server, without I/O: sockets and the clock are passed in, and `sweep()` is called on a
 * timer by the adapter. It behaves as peerjs-server does towards the stock peerjs client:
 *  - a peer registers with key, id and token; a taken id gets ID-TAKEN unless the token matches (a reconnect);
 *  - OFFER / ANSWER / CANDIDATE / LEAVE / EXPIRE are relayed to `dst` with `src` set to the sender's id;
 *  - messages for a peer that is not connected wait in a bounded queue; if it does not collect them within
 *    `expireMs`, each sender gets one EXPIRE (which the client reports as "peer-unavailable");
 *  - a peer silent for `aliveMs` (the client heartbeats every 5 s) is dropped.
 * Malformed messages are dropped and logged, never answered with ERROR: the client treats ERROR as fatal.
 */
import { randomUUID } from 'node:crypto';
import { parsePeerMessage, registrationSchema, type RelayedMessage, type ServerToPeer } from '../../src/protocol/signalling.ts';

export interface PeerSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
}

export interface SignallingOptions {
  key: string;
  /** How long queued messages wait for their peer before the senders get EXPIRE. */
  expireMs: number;
  /** A peer that sends nothing (not even HEARTBEAT) for this long is dropped. */
  aliveMs: number;
  maxPeers: number;
  maxQueuedPerPeer: number;
  maxQueuedTotal: number;
  /** Characters of JSON all queues may hold together. */
  maxQueuedChars: number;
  /** Ids only the holder of the given token may register (the coordinator's own peer); more come with `reserve`. */
  reserved?: ReadonlyMap<string, string>;
  /** Refuse every id that is not reserved: only peers the coordinator invited may use this server. */
  onlyReserved?: boolean;
  now: () => number;
  log: (message: string) => void;
}

export const SIGNALLING_DEFAULTS = { expireMs: 5_000, aliveMs: 90_000, maxPeers: 20_000, maxQueuedPerPeer: 64, maxQueuedTotal: 20_000, maxQueuedChars: 16 * 1024 * 1024 } as const;

export const ERRORS = {
  missingParameters: 'No id, token, or key supplied to websocket server',
  invalidKey: 'Invalid key provided',
  tooManyPeers: 'Server has reached its concurrent user limit',
  idTaken: 'ID is taken',
  notInvited: 'This id was not issued by the coordinator',
} as const;

interface Peer {
  id: string;
  token: string;
  socket: PeerSocket;
  lastSeen: number;
}

type Relayed = Extract<ServerToPeer, { src: string }>;

interface Queue {
  since: number;
  messages: Array<{ message: Relayed; chars: number }>;
}

/** What the adapter feeds from one WebSocket. */
export interface SignallingConnection {
  receive(raw: unknown): void;
  closed(): void;
}

const NO_CONNECTION: SignallingConnection = { receive() {}, closed() {} };

export class SignallingServer {
  private readonly peers = new Map<string, Peer>();
  private readonly queues = new Map<string, Queue>();
  private queuedTotal = 0;
  private queuedChars = 0;
  private readonly reserved: Map<string, string>;

  constructor(private readonly options: SignallingOptions) {
    this.reserved = new Map(options.reserved);
  }

  /** Reserves `id` for the holder of `token` (an invited tab). */
  reserve(id: string, token: string): void {
    this.reserved.set(id, token);
  }

  /** Ends a reservation and drops the peer registered under it. */
  release(id: string): void {
    this.reserved.delete(id);
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer.socket.close(1000, 'released');
  }

  get size(): number {
    return this.peers.size;
  }

  has(id: string): boolean {
    return this.peers.has(id);
  }

  /** A fresh id for `GET /peerjs/{key}/id`. */
  newId(): string {
    let id = randomUUID();
    while (this.peers.has(id) || this.reserved.has(id)) id = randomUUID();
    return id;
  }

  /** Registers a new WebSocket from its query parameters; refused sockets get ERROR or ID-TAKEN and are closed. */
  open(query: Record<string, string | undefined>, socket: PeerSocket): SignallingConnection {
    const refuse = (message: ServerToPeer, reason: string) => {
      send(socket, message);
      socket.close(1008, reason);
      return NO_CONNECTION;
    };
    if (!query.key || !query.id || !query.token) return refuse({ type: 'ERROR', payload: { msg: ERRORS.missingParameters } }, 'missing parameters');
    if (query.key !== this.options.key) return refuse({ type: 'ERROR', payload: { msg: ERRORS.invalidKey } }, 'invalid key');
    const parsed = registrationSchema.safeParse(query);
    if (!parsed.success) return refuse({ type: 'ERROR', payload: { msg: `Invalid id or token: ${parsed.error.issues[0]?.message ?? 'malformed'}` } }, 'invalid id');
    const { id, token } = parsed.data;
    const reservedToken = this.reserved.get(id);
    if (reservedToken === undefined && this.options.onlyReserved) return refuse({ type: 'ERROR', payload: { msg: ERRORS.notInvited } }, 'not invited');
    if (reservedToken !== undefined && reservedToken !== token) return refuse({ type: 'ID-TAKEN', payload: { msg: ERRORS.idTaken } }, 'id taken');

    let peer = this.peers.get(id);
    if (peer) {
      if (peer.token !== token) return refuse({ type: 'ID-TAKEN', payload: { msg: ERRORS.idTaken } }, 'id taken');
      // The same peer again (a reconnect before the old socket was noticed gone): the new socket replaces it.
      const old = peer.socket;
      peer.socket = socket;
      peer.lastSeen = this.options.now();
      old.close(1000, 'replaced by a new connection');
    } else {
      if (this.peers.size >= this.options.maxPeers) return refuse({ type: 'ERROR', payload: { msg: ERRORS.tooManyPeers } }, 'server full');
      peer = { id, token, socket, lastSeen: this.options.now() };
      this.peers.set(id, peer);
    }
    send(socket, { type: 'OPEN' });
    this.deliverQueued(peer);

    const self = peer;
    return {
      receive: (raw) => {
        if (this.peers.get(self.id) !== self || self.socket !== socket) return;
        const parsed = parsePeerMessage(raw);
        if (!parsed.ok) return this.options.log(`signalling ${self.id}: dropped a message: ${parsed.error}`);
        self.lastSeen = this.options.now();
        if (parsed.message.type !== 'HEARTBEAT') this.relay(self.id, parsed.message, self);
      },
      closed: () => {
        if (this.peers.get(self.id) === self && self.socket === socket) this.peers.delete(self.id);
      },
    };
  }

  /** Expires queues nobody collected and drops silent peers. Call about once a second. */
  sweep(): void {
    const now = this.options.now();
    for (const [dst, queue] of this.queues) {
      if (now - queue.since < this.options.expireMs) continue;
      this.dropQueue(dst);
      const told = new Set<string>();
      for (const { message } of queue.messages) {
        if (told.has(message.src)) continue;
        told.add(message.src);
        this.relay(dst, { type: 'EXPIRE', dst: message.src }, null);
      }
    }
    for (const peer of this.peers.values()) {
      if (now - peer.lastSeen < this.options.aliveMs) continue;
      this.peers.delete(peer.id);
      this.options.log(`signalling ${peer.id}: silent for ${this.options.aliveMs} ms, dropped`);
      peer.socket.close(1001, 'no heartbeat');
    }
  }

  /** Closes every socket (shutdown). */
  closeAll(): void {
    for (const peer of this.peers.values()) peer.socket.close(1001, 'server shutting down');
    this.peers.clear();
    this.queues.clear();
    this.queuedTotal = 0;
    this.queuedChars = 0;
  }

  /** Relays `message` as coming from `src`; `sender` is the registered peer that sent it (null: the server). */
  private relay(src: string, message: RelayedMessage, sender: Peer | null): void {
    const { dst } = message;
    if (dst === undefined) {
      // LEAVE without a destination: the sender leaves the server.
      if (message.type === 'LEAVE' && sender && this.peers.get(sender.id) === sender) {
        this.peers.delete(sender.id);
        sender.socket.close(1000, 'left');
      }
      return;
    }
    const out: Relayed = { ...message, src };
    const target = this.peers.get(dst);
    if (target) {
      try {
        target.socket.send(JSON.stringify(out));
      } catch {
        // A dead socket: the destination is gone, and the sender hears so as a LEAVE from it.
        this.peers.delete(target.id);
        target.socket.close(1011, 'send failed');
        if (message.type !== 'LEAVE') this.relay(dst, { type: 'LEAVE', dst: src }, null);
      }
      return;
    }
    if (message.type === 'LEAVE' || message.type === 'EXPIRE') return;
    this.enqueue(dst, out);
  }

  private enqueue(dst: string, message: Relayed): void {
    let queue = this.queues.get(dst);
    if (!queue) {
      queue = { since: this.options.now(), messages: [] };
      this.queues.set(dst, queue);
    }
    const chars = JSON.stringify(message).length;
    if (queue.messages.length >= this.options.maxQueuedPerPeer || this.queuedTotal >= this.options.maxQueuedTotal || this.queuedChars + chars > this.options.maxQueuedChars) {
      this.options.log(`signalling: queue for ${dst} is full, dropped a ${message.type} from ${message.src}`);
      return;
    }
    queue.messages.push({ message, chars });
    this.queuedTotal++;
    this.queuedChars += chars;
  }

  private deliverQueued(peer: Peer): void {
    const queue = this.queues.get(peer.id);
    if (!queue) return;
    this.dropQueue(peer.id);
    for (const m of queue.messages) send(peer.socket, m.message);
  }

  private dropQueue(dst: string): void {
    const queue = this.queues.get(dst);
    if (!queue) return;
    this.queues.delete(dst);
    this.queuedTotal -= queue.messages.length;
    for (const m of queue.messages) this.queuedChars -= m.chars;
  }
}

function send(socket: PeerSocket, message: ServerToPeer): void {
  try {
    socket.send(JSON.stringify(message));
  } catch {
    // The socket is closing; its close handler cleans up.
  }
}
