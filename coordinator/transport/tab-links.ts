/**
 * A tab's links as one `Link`: the WebSocket the tab connected with (always there: signalling, fallback, and the
 * session's lifetime) and, while it is open, a WebRTC data channel, which then carries what the coordinator sends.
 * A message too big for one data-channel message goes over the WebSocket.
 *
 * Ordering across the two: the tab sends every message of a job on the link its task came on, so a job's stream
 * stays in order; a `cancel` that overtakes its task is remembered by the tab (src/lib/tab-link.ts).
 */
import type { CoordinatorToTab } from '../../src/protocol/tab.ts';
import type { Link } from './link.ts';

/** Largest message sent over a data channel, in characters of JSON (SCTP messages stay well under 256 KiB). */
export const MAX_DATA_CHANNEL_MESSAGE_CHARS = 64 * 1024;

export class TabLinks implements Link {
  private rtc: Link | null = null;

  constructor(private readonly websocket: Link) {}

  get kind(): Link['kind'] {
    return this.rtc ? 'webrtc' : 'websocket';
  }

  send(message: CoordinatorToTab): void {
    if (this.rtc && JSON.stringify(message).length <= MAX_DATA_CHANNEL_MESSAGE_CHARS) this.rtc.send(message);
    else this.websocket.send(message);
  }

  close(reason: string): void {
    this.rtc?.close(reason);
    this.rtc = null;
    this.websocket.close(reason);
  }

  useDataChannel(link: Link): void {
    this.rtc = link;
  }

  dropDataChannel(link: Link): void {
    if (this.rtc === link) this.rtc = null;
  }
}
