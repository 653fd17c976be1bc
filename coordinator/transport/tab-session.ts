/**
 * One contributor tab's session, independent of the transport: validates every message the tab sends, applies
 * `hello` / `models`, and hands job messages to the job board. A malformed or out-of-order message is answered
 * with an `error` message and dropped; it never throws into the transport.
 */
import { parseTabMessage } from '../../src/protocol/tab.ts';
import type { JobBoard } from '../jobs/job-board.ts';
import type { Tab, TabRegistry } from '../tabs/tab-registry.ts';
import type { Link } from './link.ts';

export interface TabSessionDeps {
  registry: TabRegistry;
  board: JobBoard;
  /** Model ids the network knows; a tab cannot announce others. */
  knownModels: () => ReadonlySet<string>;
  log: (message: string) => void;
}

export interface TabSession {
  tab: Tab;
  receive(raw: unknown): void;
  closed(): void;
}

export function openTabSession(link: Link, deps: TabSessionDeps): TabSession {
  const tab = deps.registry.add(link);
  // Not `tab.ready`: the board clears that when it expels a tab, and an expelled tab must not rejoin this session.
  let helloSeen = false;
  link.send({ type: 'welcome', tabId: tab.id });
  const reject = (code: string, message: string) => {
    deps.log(`${tab.id}: ${code}: ${message}`);
    link.send({ type: 'error', code, message });
  };
  const onlyKnown = (models: string[]) => {
    const known = deps.knownModels();
    const unknown = models.filter((m) => !known.has(m));
    if (unknown.length) reject('unknown_model', `ignoring models this network does not serve: ${unknown.join(', ')}`);
    return models.filter((m) => known.has(m));
  };

  return {
    tab,
    receive(raw) {
      const parsed = parseTabMessage(raw);
      if (!parsed.ok) return reject('invalid_message', parsed.error);
      const message = parsed.message;
      switch (message.type) {
        case 'hello':
          if (helloSeen) return reject('out_of_order', 'hello was already received');
          helloSeen = true;
          tab.backend = message.backend;
          tab.adapter = message.adapter;
          tab.limits = message.limits;
          tab.models = onlyKnown(message.models);
          tab.ready = true;
          deps.board.dispatchWaiting();
          deps.log(`${tab.id}: hello over ${link.kind}: ${message.backend}${message.adapter ? ` (${message.adapter.description || message.adapter.vendor})` : ''}, models [${tab.models.join(', ')}]`);
          return;
        case 'models':
          if (!tab.ready) return reject('out_of_order', 'models before hello');
          tab.models = onlyKnown(message.models);
          deps.board.dispatchWaiting();
          return;
        default:
          if (!tab.ready) return reject('out_of_order', `${message.type} before hello`);
          deps.board.handle(tab, message);
      }
    },
    closed() {
      deps.registry.remove(tab.id);
      deps.board.tabClosed(tab);
      deps.log(`${tab.id}: disconnected`);
    },
  };
}
