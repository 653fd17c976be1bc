/**
 * Test-side stand-ins for the far end of a tab link: a `Link` that records what the coordinator sends (and can
 * react to it), and the `hello` frame a contributor tab opens with.
 */
import type { Link } from '../../coordinator/transport/link.ts';
import { TAB_PROTOCOL_VERSION, type Backend, type CoordinatorToTab, type TabToCoordinator } from '../../src/protocol/tab.ts';

/**
 * Records what the coordinator sends and every `close` call. Like the WebSocket link, it drops (without recording)
 * whatever is sent after it was closed, so a message sent after `close` is missing from `sent`.
 */
export class RecordingLink implements Link {
  readonly kind = 'websocket' as const;
  readonly sent: CoordinatorToTab[] = [];
  /** The reason of each `close` call, in order. */
  readonly closes: string[] = [];

  /** `onSend` runs after each message is recorded; a scripted tab uses it to answer tasks. */
  constructor(private readonly onSend: (message: CoordinatorToTab) => void = () => {}) {}

  get closed(): boolean {
    return this.closes.length > 0;
  }

  send(message: CoordinatorToTab): void {
    if (this.closed) return;
    this.sent.push(message);
    this.onSend(message);
  }

  close(reason: string): void {
    this.closes.push(reason);
  }

  ofType<T extends CoordinatorToTab['type']>(type: T): Array<Extract<CoordinatorToTab, { type: T }>> {
    return this.sent.filter((m): m is Extract<CoordinatorToTab, { type: T }> => m.type === type);
  }
}

export function helloMessage(models: string[], backend: Backend = 'wasm'): Extract<TabToCoordinator, { type: 'hello' }> {
  return { type: 'hello', protocol: TAB_PROTOCOL_VERSION, backend, adapter: null, limits: null, models };
}

export const helloFrame = (models: string[], backend: Backend = 'wasm'): string => JSON.stringify(helloMessage(models, backend));
