/**
 * The coordinator's connection to one contributor tab, whatever carries it (a WebSocket now; a WebRTC data
 * channel with WebSocket fallback later). Everything above this interface is transport-agnostic.
 */
import type { CoordinatorToTab } from '../../src/protocol/tab.ts';

export type LinkKind = 'websocket' | 'webrtc';

export interface Link {
  readonly kind: LinkKind;
  /** Sends one message. Messages arrive in order; a closed link drops them silently. */
  send(message: CoordinatorToTab): void;
  close(reason: string): void;
}
