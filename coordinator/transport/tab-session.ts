/**
 * One contributor tab's session, independent of the transport: validates every message the tab sends, checks
 * the tab's identity (its `hello` must sign the challenge of this session's `welcome`; otherwise the link is
 * closed), applies `hello` / `models`, and hands job messages to the job board. A malformed or out-of-order message is answered
 * with an `error` message and dropped; it never throws into the transport.
 */
import { parseTabMessage, type WebRtcInvitation } from '../../src/protocol/tab.ts';
import { authMessage } from '../../src/protocol/identity.ts';
import { contributorIdFromPublicKey, newChallenge, verifyEd25519 } from '../identity/ed25519.ts';
import type { JobBoard } from '../jobs/job-board.ts';
import type { AuditDesk } from '../trust/audit-desk.ts';
import type { Tab, TabRegistry } from '../tabs/tab-registry.ts';
import type { Link } from './link.ts';

export interface TabSessionDeps {
  registry: TabRegistry;
  board: JobBoard;
  /** Model ids the network knows; a tab cannot announce others. */
  knownModels: () => ReadonlySet<string>;
  log: (message: string) => void;
  /** A fresh random challenge per session (default: 32 random bytes). */
  newChallenge?: () => string;
  /** Audits: verifiers' answers go here, and it hears when tabs come and go. */
  audits?: Pick<AuditDesk, 'handle' | 'tabClosed' | 'pump'>;
  /** The tab proved its identity and was accepted; and, at the end, the session closed (economy: standings). */
  onAccepted?: (tab: Tab) => void;
  onClosed?: (tab: Tab) => void;
  /** When the session may move to a WebRTC data channel: the invitation for the tab, and what to do once it listens. */
  webrtc?: { invitation: WebRtcInvitation; listening: () => void };
}

export interface TabSession {
  tab: Tab;
  /** A message from the tab; `via` is the link it came on (replies that must go back the same way use it). */
  receive(raw: unknown, via?: Link): void;
  closed(): void;
}

export function openTabSession(link: Link, deps: TabSessionDeps): TabSession {
  const tab = deps.registry.add(link);
  // Not `tab.ready`: the board clears that when it expels a tab, and an expelled tab must not rejoin this session.
  let helloSeen = false;
  const challenge = (deps.newChallenge ?? newChallenge)();
  link.send({ type: 'welcome', tabId: tab.id, challenge });
  const reject = (code: string, message: string) => {
    deps.log(`${tab.id}: ${code}: ${message}`);
    link.send({ type: 'error', code, message });
  };
  // Audits are a side matter of the session: whatever goes wrong there must not break the tab's link.
  const withAudits = (work: (audits: NonNullable<TabSessionDeps['audits']>) => void) => {
    if (!deps.audits) return;
    try {
      work(deps.audits);
    } catch (error) {
      deps.log(`${tab.id}: audit handling failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  };
  const onlyKnown = (models: string[]) => {
    const known = deps.knownModels();
    const unknown = models.filter((m) => !known.has(m));
    if (unknown.length) reject('unknown_model', `ignoring models this network does not serve: ${unknown.join(', ')}`);
    return models.filter((m) => known.has(m));
  };

  function handle(raw: unknown, via: Link | undefined): void {
    const parsed = parseTabMessage(raw);
    if (!parsed.ok) return reject('invalid_message', parsed.error);
    const message = parsed.message;
    switch (message.type) {
      case 'hello':
        if (helloSeen) return reject('out_of_order', 'hello was already received');
        helloSeen = true;
        if (!verifyEd25519(message.identity.publicKey, authMessage(challenge), message.identity.signature)) {
          reject('unauthenticated', 'the identity signature does not verify against this session’s challenge');
          return link.close('unauthenticated');
        }
        tab.publicKey = message.identity.publicKey;
        tab.contributorId = contributorIdFromPublicKey(message.identity.publicKey);
        tab.backend = message.backend;
        tab.adapter = message.adapter;
        tab.limits = message.limits;
        tab.models = onlyKnown(message.models);
        tab.payoutAccount = message.payoutAccount ?? null;
        tab.ready = true;
        link.send({ type: 'accepted', contributorId: tab.contributorId, webrtc: deps.webrtc?.invitation ?? null });
        deps.onAccepted?.(tab);
        deps.board.tabChanged(tab);
        withAudits((a) => a.pump());
        deps.log(`${tab.id}: contributor ${tab.contributorId}, hello over ${link.kind}: ${message.backend}${message.adapter ? ` (${message.adapter.description || message.adapter.vendor})` : ''}, models [${tab.models.join(', ')}]`);
        return;
      case 'ping':
        if (!tab.ready) return reject('out_of_order', 'ping before hello');
        return (via ?? link).send({ type: 'pong', nonce: message.nonce });
      case 'webrtc':
        if (!tab.ready) return reject('out_of_order', 'webrtc before hello');
        if (message.state === 'listening' && deps.webrtc) {
          tab.peerId = deps.webrtc.invitation.peerId;
          deps.webrtc.listening();
          withAudits((a) => a.pump());
        }
        else deps.log(`${tab.id}: no WebRTC (${message.reason ?? 'no reason given'}); staying on the WebSocket`);
        return;
      case 'models':
        if (!tab.ready) return reject('out_of_order', 'models before hello');
        tab.models = onlyKnown(message.models);
        // A model it failed to load once and now holds may be given to it again.
        tab.loadFailed = tab.loadFailed.filter((m) => !tab.models.includes(m));
        deps.board.tabChanged(tab);
        withAudits((a) => a.pump());
        return;
      case 'status':
        if (!tab.ready) return reject('out_of_order', 'status before hello');
        tab.hidden = message.hidden;
        if (message.cached) tab.cached = [...message.cached];
        if (message.calibration) tab.calibration = { ...message.calibration };
        if (message.limits) tab.contributorLimits = { ...message.limits, models: message.limits.models && [...message.limits.models] };
        deps.board.tabChanged(tab);
        return;
      case 'loading':
        if (!tab.ready) return reject('out_of_order', 'loading before hello');
        return deps.board.loading(tab, message.jobId);
      case 'verdict':
      case 'audit-failed':
      case 'share-failed':
        if (!tab.ready) return reject('out_of_order', `${message.type} before hello`);
        return withAudits((a) => a.handle(tab, message));
      default:
        if (!tab.ready) return reject('out_of_order', `${message.type} before hello`);
        deps.board.handle(tab, message);
    }
  }

  return {
    tab,
    receive(raw, via) {
      // Nothing a tab sends may take the coordinator down: a failure handling it (a bug) ends this session only.
      try {
        handle(raw, via);
      } catch (error) {
        deps.log(`${tab.id}: failed handling a message: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        link.send({ type: 'error', code: 'internal_error', message: 'the coordinator could not handle a message from this tab' });
        link.close('internal_error');
      }
    },
    closed() {
      deps.registry.remove(tab.id);
      deps.board.tabClosed(tab);
      withAudits((a) => a.tabClosed(tab));
      deps.onClosed?.(tab);
      deps.log(`${tab.id}: disconnected`);
    },
  };
}
