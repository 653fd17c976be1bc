/**
 * A tab's links as one `Link`: the WebSocket the tab connected with (always there: signalling, fallback, and the
 * session's lifetime) and, while it is open, a WebRTC data channel, which then carries what the coordinator sends.
 * A message too big for one data-channel message goes over the WebSocket.
 *
 * Ordering across the two: the tab sends every message of a job on the link its task came on, so a job's stream
 * stays in order. A `cancel` always goes by WebSocket, so it cannot be lost with a dying channel after its job
 * ended here (a task lost that way is sent again, see `JobBoard.dataChannelLost`); one that overtakes its task is
 * remembered by the tab (src/lib/tab-link.ts). Audit work (`audit`, `share`) goes by WebSocket too.
 */
import type { CoordinatorToTab } from '../../src/protocol/tab.ts';
import type { Link } from './link.ts';

/** Largest message sent over a data channel, in characters of JSON (SCTP messages stay well under 256 KiB). */
export const MAX_DATA_CHANNEL_MESSAGE_CHARS = 64 * 1024;

/** A data channel as TabLinks uses it: JSON text in (already serialized, to check its size once). */
export interface DataChannelLink {
  sendText(text: string): void;
  close(reason: string): void;
}

const WEBSOCKET_ONLY: ReadonlySet<CoordinatorToTab['type']> = new Set(['cancel', 'audit', 'share']);

export class TabLinks implements Link {
  private rtc: DataChannelLink | null = null;

  constructor(private readonly websocket: Link) {}

  get kind(): Link['kind'] {
    return this.rtc ? 'webrtc' : 'websocket';
  }

  send(message: CoordinatorToTab): void {
    // The session's own link carries what must not be lost with a dying data channel: cancels, and audit work
    // (which, unlike a job, nothing resends on the WebSocket when the channel closes).
    if (!this.rtc || WEBSOCKET_ONLY.has(message.type)) return this.websocket.send(message);
    const text = JSON.stringify(message);
    if (text.length <= MAX_DATA_CHANNEL_MESSAGE_CHARS) this.rtc.sendText(text);
    else this.websocket.send(message);
  }

  close(reason: string): void {
    this.rtc?.close(reason);
    this.rtc = null;
    this.websocket.close(reason);
  }

  useDataChannel(link: DataChannelLink): void {
    this.rtc = link;
  }

  dropDataChannel(link: DataChannelLink): void {
    if (this.rtc === link) this.rtc = null;
  }
}
