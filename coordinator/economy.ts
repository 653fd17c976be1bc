/**
 * Composes the network's economy (issue #5) from its parts: the store, billing of requests, contributors' money,
 * rate limits of the demo key and the faucets, and the hooks the job board, the audit desk and the tab sessions
 * call. Its settings come from the environment (and a prices file), checked at start-up:
 *   DATA_DIR (data: the SQLite file dolphin.db is created there)   PRICES_FILE (coordinator/prices.json)
 *   CONTRIBUTOR_SHARE (0.8 of each charge goes to the contributor)   VERIFIER_FEE (0.06: a verdict earns this share of the audited job's cost; at most a third of the treasury's share, so even three verdicts never cost more than the job brought in)
 *   SLASH_VERIFIER_SHARE (0.5 of a slashed stake goes to the convicting verifiers)
 *   SETTLEMENT_WINDOW_MS (86400000: unaudited rewards mature after this)   UNBONDING_MS (604800000)
 *   STARTER_CREDITS (10 DPHN for a new account)   STARTER_STAKE (10 DPHN staked for a new contributor identity)
 *   FAUCET_PER_HOUR (5 grants of each faucet per client address)   DEMO_REQUESTS_PER_MINUTE (10 per client address)
 *   REPUTATION_HALF_LIFE_MS (604800000)
 */
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { readFileSync } from 'node:fs';
import type { PlainMessage } from '../src/protocol/api.ts';
import type { EconomyDeps } from './app.ts';
import { DEMO_REQUESTER } from './api/auth.ts';
import { RateLimiter } from './api/rate-limit.ts';
import { MICROS_PER_DPHN } from './ledger/accounts.ts';
import { Billing, type JobEnd } from './ledger/billing.ts';
import { ContributorAccounts } from './ledger/contributor-accounts.ts';
import type { Store } from './ledger/economy-store.ts';
import { DEFAULT_PRICE_TABLE, priceTableSchema, type PriceTable } from './ledger/pricing.ts';
import { DEFAULT_REPUTATION_HALF_LIFE_MS } from './ledger/reputation.ts';
import type { JobBoardOptions } from './jobs/job-board.ts';
import type { ModelCatalogue } from './models/catalogue.ts';
import { numberSetting } from './settings.ts';
import type { AuditBook } from './trust/audit-book.ts';
import type { AuditListener } from './trust/audit-desk.ts';
import { MAX_VERIFIERS } from './trust/audit-decision.ts';

export interface EconomySettings {
  prices: PriceTable;
  contributorSharePpm: number;
  verifierFeePpm: number;
  slashVerifierSharePpm: number;
  settlementWindowMs: number;
  unbondingMs: number;
  starterCredits: number;
  starterStake: number;
  faucetPerHour: number;
  demoPerMinute: number;
  reputationHalfLifeMs: number;
}

export const DEFAULT_ECONOMY: EconomySettings = {
  prices: DEFAULT_PRICE_TABLE,
  contributorSharePpm: 800_000,
  verifierFeePpm: 60_000,
  slashVerifierSharePpm: 500_000,
  settlementWindowMs: 24 * 3600_000,
  unbondingMs: 7 * 24 * 3600_000,
  starterCredits: 10 * MICROS_PER_DPHN,
  starterStake: 10 * MICROS_PER_DPHN,
  faucetPerHour: 5,
  demoPerMinute: 10,
  reputationHalfLifeMs: DEFAULT_REPUTATION_HALF_LIFE_MS,
};

const DAY = 24 * 3600_000;

/** The settings from the environment; a bad value stops the coordinator with a message naming it. */
export function economySettings(env: NodeJS.ProcessEnv, pricesFile = env.PRICES_FILE): EconomySettings {
  const ppm = (name: string, fallback: number) => Math.round(numberSetting(env, name, fallback / 1e6, { min: 0, max: 1 }) * 1e6);
  const micros = (name: string, fallback: number) => Math.round(numberSetting(env, name, fallback / MICROS_PER_DPHN, { min: 0, max: 1e6 }) * MICROS_PER_DPHN);
  const d = DEFAULT_ECONOMY;
  const settings: EconomySettings = {
    prices: readPrices(pricesFile ?? DEFAULT_PRICES_FILE, pricesFile !== undefined),
    contributorSharePpm: ppm('CONTRIBUTOR_SHARE', d.contributorSharePpm),
    verifierFeePpm: ppm('VERIFIER_FEE', d.verifierFeePpm),
    slashVerifierSharePpm: ppm('SLASH_VERIFIER_SHARE', d.slashVerifierSharePpm),
    settlementWindowMs: numberSetting(env, 'SETTLEMENT_WINDOW_MS', d.settlementWindowMs, { min: 0, max: 365 * DAY, integer: true }),
    // Unbonding stake stays slashable at least as long as an audit can take (an hour).
    unbondingMs: numberSetting(env, 'UNBONDING_MS', d.unbondingMs, { min: 3600_000, max: 365 * DAY, integer: true }),
    starterCredits: micros('STARTER_CREDITS', d.starterCredits),
    starterStake: micros('STARTER_STAKE', d.starterStake),
    faucetPerHour: numberSetting(env, 'FAUCET_PER_HOUR', d.faucetPerHour, { min: 0, max: 1e6, integer: true }),
    demoPerMinute: numberSetting(env, 'DEMO_REQUESTS_PER_MINUTE', d.demoPerMinute, { min: 0, max: 1e6, integer: true }),
    reputationHalfLifeMs: numberSetting(env, 'REPUTATION_HALF_LIFE_MS', d.reputationHalfLifeMs, { min: 1, max: 10 * 365 * DAY, integer: true }),
  };
  if (settings.verifierFeePpm * MAX_VERIFIERS > 1e6 - settings.contributorSharePpm)
    throw new Error(`VERIFIER_FEE × ${MAX_VERIFIERS} verifiers must not exceed the treasury's share (1 − CONTRIBUTOR_SHARE): the fees of an audit would cost more than its job brought in`);
  return settings;
}

const DEFAULT_PRICES_FILE = 'coordinator/prices.json';

/** The price table from `file`; the built-in defaults when the default file is absent (a named one must exist). */
function readPrices(file: string, named: boolean): PriceTable {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    if (!named && (error as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_PRICE_TABLE;
    throw new Error(`PRICES_FILE ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = priceTableSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** The client's address: the socket's peer (a proxy in front would need X-Forwarded-For, deliberately not trusted here). */
export function socketAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** An escrow this old whose job is not running was left by an ending that failed to be written: it is refunded. */
const ORPHAN_AFTER_MS = 2 * 3600_000;

export interface EconomyWiring {
  deps: EconomyDeps;
  /** Matures due rewards, releases unbonded stake, refunds orphaned escrows; call every second or so. */
  sweep: () => Promise<void>;
  /** For the job board: who may take a model's jobs, and each job's end (billing). */
  board: Pick<JobBoardOptions, 'eligible' | 'onFinished'>;
  /** For the audit desk: verdict fees and decided audits. */
  audits: AuditListener;
  /** For tab sessions: an identity was accepted from an address; its last tab left. */
  tabs: { accepted: (contributorId: string, address: string) => void; gone: (contributorId: string) => void };
}

export interface EconomyOptions {
  store: Store;
  settings: EconomySettings;
  catalogue: ModelCatalogue;
  book: AuditBook;
  /** The lowest audit probability (AUDIT_P_MIN). */
  pMin: number;
  /** The model's templated prompt token count, or null without its tokenizer. */
  countPromptTokens: (model: string, messages: PlainMessage[]) => number | null;
  /** A contributor's standing changed: waiting requests may now find a tab. */
  changed: () => void;
  /** Whether the job is running on the board (its escrow is not orphaned). */
  jobRunning: (jobId: string) => boolean;
  clientAddress?: (c: Context) => string;
  now?: () => number;
  log: (message: string) => void;
}

export async function createEconomy(options: EconomyOptions): Promise<EconomyWiring> {
  const { store, settings, catalogue, book, log } = options;
  const now = options.now ?? Date.now;
  await store.requesters.ensure(DEMO_REQUESTER);
  const billing = new Billing({ store: store.billing, prices: settings.prices, contributorSharePpm: settings.contributorSharePpm, settlementWindowMs: settings.settlementWindowMs, now, log });
  // Jobs live in memory: whatever was held for jobs of an earlier run goes back to its requesters.
  const orphans = await billing.refundOrphans(() => false, 0, 'the coordinator restarted before the job ended');
  if (orphans) log(`refunded ${orphans} jobs left escrowed by the last run`);
  const contributors = new ContributorAccounts({
    store: store.contributors,
    prices: settings.prices,
    contributorSharePpm: settings.contributorSharePpm,
    verifierFeePpm: settings.verifierFeePpm,
    slashVerifierSharePpm: settings.slashVerifierSharePpm,
    unbondingMs: settings.unbondingMs,
    starterStake: settings.starterStake,
    starterLimiter: new RateLimiter({ limit: settings.faucetPerHour, windowMs: 3600_000, now }),
    contextLength: (model) => catalogue.get(model)?.config.max_position_embeddings,
    auditProbability: (id) => book.auditProbability(id),
    auditOpen: (jobId) => book.auditOpen(jobId),
    changed: options.changed,
    now,
    log,
  });
  const deps: EconomyDeps = {
    store,
    billing,
    contributors,
    countPromptTokens: options.countPromptTokens,
    demoLimiter: new RateLimiter({ limit: settings.demoPerMinute, windowMs: 60_000, now }),
    faucetLimiter: new RateLimiter({ limit: settings.faucetPerHour, windowMs: 3600_000, now }),
    starterCredits: settings.starterCredits,
    clientAddress: options.clientAddress ?? socketAddress,
    prices: settings.prices,
    pMin: options.pMin,
    contributorSharePpm: settings.contributorSharePpm,
    settlementWindowMs: settings.settlementWindowMs,
    unbondingMs: settings.unbondingMs,
    now,
  };
  let sweeps = 0;
  return {
    deps,
    sweep: async () => {
      await contributors.sweep();
      // Orphaned escrows are rare: look once a minute.
      if (sweeps++ % 60 === 0) await billing.refundOrphans(options.jobRunning, ORPHAN_AFTER_MS, 'the job ended without its bill being settled');
    },
    board: {
      eligible: (tab, model) => contributors.eligible(tab.contributorId, model),
      onFinished: ({ id, tab, event, streamed, promptTokens }) => {
        // A client that hung up keeps what it was sent and pays for it; a job the network failed costs nothing.
        const end: JobEnd =
          event.type === 'done'
            ? { type: 'done', promptTokens: event.promptTokens, completionTokens: event.completionTokens, contributorId: tab.contributorId, payoutTo: tab.payoutAccount }
            : event.code === 'client_closed_request' && streamed > 0
              ? { type: 'done', promptTokens: promptTokens ?? 0, completionTokens: streamed, contributorId: tab.contributorId, payoutTo: tab.payoutAccount }
              : { type: 'failed', reason: `${event.code}: ${event.message}` };
        void billing.jobEnded(id, end).then(() => (tab.contributorId ? contributors.settled(tab.contributorId) : undefined));
      },
    },
    audits: {
      verdictGiven: (v) => void contributors.verdictGiven(v),
      decided: (d) => void contributors.auditDecided(d),
    },
    tabs: {
      accepted: (contributorId, address) => void contributors.accepted(contributorId, address),
      gone: (contributorId) => contributors.forget(contributorId),
    },
  };
}
