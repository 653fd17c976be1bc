/**
 * The connected contributor tabs and what each announced. In memory: a tab that disconnects is gone.
 */
import { NO_LIMITS, type AdapterInfo, type AdapterLimits, type Backend, type ContributorLimits } from '../../src/protocol/tab.ts';
import type { Link } from '../transport/link.ts';

export interface Tab {
  id: string;
  link: Link;
  /** False until the tab's `hello` arrived and its identity was proven; such a tab gets no work. */
  ready: boolean;
  /** Derived from `publicKey`, which the tab proved it holds (null before `hello`). */
  contributorId: string | null;
  /** Base64url raw Ed25519 public key; results from this tab are signed with it. */
  publicKey: string | null;
  /** The PeerJS id the tab listens on, once it said so (null: no WebRTC). Other tabs reach it by this id. */
  peerId: string | null;
  backend: Backend | null;
  adapter: AdapterInfo | null;
  limits: AdapterLimits | null;
  /** The models in the tab's engine now (it serves these without loading anything). */
  models: string[];
  /** Models whose weights are in the tab's Cache API, as it last reported. */
  cached: string[];
  /** Models the tab failed to load for a job (`model_not_loaded`): not given to it again until it reports holding one. */
  loadFailed: string[];
  /** What its contributor allows (pause, models, share of time), as it last reported. */
  contributorLimits: ContributorLimits;
  /** Resting after a job until then (the board's clock), to keep to its share of time. */
  restUntil: number;
  /** Jobs assigned to the tab: the one its engine runs and those queued behind it (the board keeps it). */
  runningJobs: number;
  /** Measured decode speed over recent jobs of any model (what the pages show); null until it served one. */
  tokensPerSecond: number | null;
  /** Measured decode speed per model over recent jobs: what the scheduler reads, before the calibration's. */
  speeds: Record<string, number>;
  /** Decode speed per model from the tab's calibration run when it loaded the model (what it reported). */
  calibration: Record<string, number>;
  tokensServed: number;
  jobsServed: number;
  connectedAt: number;
  /** The identity's reputation in [0, 1] (coordinator/ledger/reputation.ts); a newcomer's is 0.5. */
  reputation: number;
  /** The page is hidden (its browser throttles it), as the tab last reported. */
  hidden: boolean;
  /** The requester account its hello named for the rewards of the jobs it serves (null: its identity's own); not shown publicly. */
  payoutAccount: string | null;
}

/** What the network page and the status API show of a tab. */
export type TabStatus = Omit<Tab, 'link' | 'ready' | 'peerId' | 'restUntil' | 'payoutAccount'> & { transport: Link['kind'] };

export class TabRegistry {
  private readonly tabs = new Map<string, Tab>();
  private nextId = 1;

  constructor(private readonly now: () => number = Date.now) {}

  add(link: Link): Tab {
    const tab: Tab = {
      id: `tab-${this.nextId++}`,
      link,
      ready: false,
      contributorId: null,
      publicKey: null,
      peerId: null,
      backend: null,
      adapter: null,
      limits: null,
      models: [],
      cached: [],
      loadFailed: [],
      calibration: {},
      contributorLimits: NO_LIMITS,
      restUntil: -Infinity,
      runningJobs: 0,
      tokensPerSecond: null,
      speeds: {},
      tokensServed: 0,
      jobsServed: 0,
      reputation: 0.5,
      payoutAccount: null,
      hidden: false,
      connectedAt: this.now(),
    };
    this.tabs.set(tab.id, tab);
    return tab;
  }

  remove(id: string): void {
    this.tabs.delete(id);
  }

  get(id: string): Tab | undefined {
    return this.tabs.get(id);
  }

  ready(): Tab[] {
    return [...this.tabs.values()].filter((t) => t.ready);
  }

  /** Whether a ready tab meets `test` (stops at the first; copies nothing). */
  some(test: (tab: Tab) => boolean): boolean {
    for (const tab of this.tabs.values()) if (tab.ready && test(tab)) return true;
    return false;
  }

  /**
   * Records a finished job of `model`: `tokens` streamed, `seconds` from the first token to the end. Decode speed
   * (tokens after the first, per second) feeds exponential moving averages, the tab's and the model's on the tab.
   */
  recordJob(tab: Tab, model: string, tokens: number, seconds: number): void {
    tab.jobsServed++;
    tab.tokensServed += tokens;
    if (tokens < 2 || seconds <= 0) return;
    const speed = (tokens - 1) / seconds;
    const average = (last: number | null | undefined) => (last === null || last === undefined ? speed : 0.7 * last + 0.3 * speed);
    tab.tokensPerSecond = average(tab.tokensPerSecond);
    // An own property, so a model named like an Object.prototype member reads nothing inherited.
    tab.speeds[model] = average(Object.hasOwn(tab.speeds, model) ? tab.speeds[model] : undefined);
  }

  /** The identity's reputation changed (an audit decided): every tab of it carries the new value; those tabs. */
  setReputation(contributorId: string, reputation: number): Tab[] {
    const changed = [...this.tabs.values()].filter((tab) => tab.contributorId === contributorId);
    for (const tab of changed) tab.reputation = reputation;
    return changed;
  }

  status(): TabStatus[] {
    // Peer ids stay private: knowing one lets a tab call that tab. Payout accounts too: they tie an identity to an account.
    return [...this.tabs.values()].map(({ link, ready: _ready, peerId: _peerId, restUntil: _restUntil, payoutAccount: _payoutAccount, ...rest }) => ({ ...rest, models: [...rest.models], cached: [...rest.cached], loadFailed: [...rest.loadFailed], calibration: { ...rest.calibration }, speeds: { ...rest.speeds }, transport: link.kind }));
  }

  /**
   * Connects two tabs over the mesh: `to` is told to accept `from`, then `from` to call `to`. False when either
   * has no WebRTC peer.
   */
  introduce(from: Tab, to: Tab): boolean {
    if (!from.peerId || !to.peerId || from === to) return false;
    to.link.send({ type: 'mesh-expect', peerId: from.peerId });
    from.link.send({ type: 'mesh-dial', peerId: to.peerId });
    return true;
  }
}
