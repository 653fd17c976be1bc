/**
 * The connected contributor tabs and what each announced. In memory: a tab that disconnects is gone.
 */
import { NO_LIMITS, type AdapterInfo, type AdapterLimits, type Backend, type ContributorLimits } from '../../src/protocol/tab.ts';
import type { Link } from '../transport/link.ts';
import type { TabSnapshot } from '../schedule/pick-tab.ts';

export interface Tab extends TabSnapshot {
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
  models: string[];
  /** Models whose weights are in the tab's Cache API, as it last reported. */
  cached: string[];
  /** What its contributor allows (pause, models, share of time), as it last reported. */
  contributorLimits: ContributorLimits;
  /** Resting after a job until then (the board's clock), to keep to its share of time. */
  restUntil: number;
  runningJobs: number;
  tokensPerSecond: number | null;
  tokensServed: number;
  jobsServed: number;
}

/** What the network page and the status API show of a tab. */
export type TabStatus = Omit<Tab, 'link' | 'ready' | 'peerId' | 'restUntil'> & { transport: Link['kind'] };

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
      calibration: {},
      contributorLimits: NO_LIMITS,
      restUntil: -Infinity,
      runningJobs: 0,
      tokensPerSecond: null,
      tokensServed: 0,
      jobsServed: 0,
      reputation: 0.5,
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

  /**
   * Records a finished job: `tokens` streamed, `seconds` from the first token to the end. Decode speed (tokens
   * after the first, per second) feeds an exponential moving average.
   */
  recordJob(tab: Tab, tokens: number, seconds: number): void {
    tab.jobsServed++;
    tab.tokensServed += tokens;
    if (tokens < 2 || seconds <= 0) return;
    const speed = (tokens - 1) / seconds;
    tab.tokensPerSecond = tab.tokensPerSecond === null ? speed : 0.7 * tab.tokensPerSecond + 0.3 * speed;
  }

  /** The identity's reputation changed (an audit decided): every tab of it carries the new value. */
  setReputation(contributorId: string, reputation: number): void {
    for (const tab of this.tabs.values()) if (tab.contributorId === contributorId) tab.reputation = reputation;
  }

  status(): TabStatus[] {
    // Peer ids stay private: knowing one lets a tab call that tab.
    return [...this.tabs.values()].map(({ link, ready: _ready, peerId: _peerId, restUntil: _restUntil, ...rest }) => ({ ...rest, models: [...rest.models], cached: [...rest.cached], calibration: { ...rest.calibration }, transport: link.kind }));
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
