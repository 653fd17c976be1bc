/**
 * The developers page's own state and what it shows, pure: the key a developer chose to keep in this browser
 * (localStorage, opt-in), checking a pasted key's form, the rows of the usage, history and price tables, and paging
 * through older rows.
 */
import type { LedgerEntryView, Page, PriceView, UsageView } from '../protocol/accounts.ts';

const STORAGE_KEY = 'dolphin.developer-key';

/** An API key as the coordinator makes them (`dphn_` + base64url); the demo key is not an account's. */
const KEY_FORM = /^dphn_[A-Za-z0-9_-]{16,}$/;

/** Why `text` cannot be an account's API key, or null when it can (the coordinator still decides). */
export function keyProblem(text: string): string | null {
  const key = text.trim();
  if (!key) return 'Paste an API key first.';
  if (!KEY_FORM.test(key)) return 'That is not a Dolphin API key: keys start with "dphn_" followed by letters, digits, "-" and "_".';
  return null;
}

/** The key kept in `storage`, or null when there is none, it is not a key, or storage is unavailable. */
export function storedKey(storage: Pick<Storage, 'getItem'> | null): string | null {
  try {
    const key = storage?.getItem(STORAGE_KEY) ?? null;
    return key !== null && keyProblem(key) === null ? key : null;
  } catch {
    return null;
  }
}

/** Keeps `key` in `storage`, or forgets the kept one when null. False when storage refused (private mode, quota). */
export function keepKey(storage: Pick<Storage, 'setItem' | 'removeItem'> | null, key: string | null): boolean {
  try {
    if (!storage) return false;
    if (key === null) storage.removeItem(STORAGE_KEY);
    else storage.setItem(STORAGE_KEY, key);
    return true;
  } catch {
    return false;
  }
}

export interface UsageRow {
  jobId: string;
  /** ISO time the job started, and as people read it. */
  at: string;
  time: string;
  model: string;
  /** Prompt + completion, as "12 + 16", or "—" while the job runs. */
  tokens: string;
  /** The DPHN charged; while escrowed, what is held; refunded jobs cost nothing; a convicted job's charge came back. */
  charged: string;
  status: UsageView['status'];
}

const dash = '—';

export function usageRow(job: UsageView, formatTime: (iso: string) => string): UsageRow {
  const tokens = job.prompt_tokens === null && job.completion_tokens === null ? dash : `${job.prompt_tokens ?? 0} + ${job.completion_tokens ?? 0}`;
  const charged =
    job.status === 'escrowed' ? `${job.escrowed.dphn} held`
    : job.status === 'refunded' ? '0 DPHN (refunded)'
    : job.status === 'convicted' ? `${job.charged?.dphn ?? dash}, refunded after an audit`
    : (job.charged?.dphn ?? dash);
  return { jobId: job.job_id, at: job.created_at, time: formatTime(job.created_at), model: job.model, tokens, charged, status: job.status };
}

/** What each kind of ledger entry on a requester account means to its owner (coordinator/store/sqlite-*.ts). */
const ENTRY_LABELS: Record<string, string> = {
  faucet: 'Starter credits',
  subsidy: 'Demo request paid by the network',
  escrow: 'Held for a request',
  settle: 'Request settled: the unused hold returned',
  refund: 'Refunded',
  mature: 'Earned by a tab lent under this account',
};

export interface HistoryRow {
  transferId: number;
  at: string;
  time: string;
  /** What the entry was, in words; an unknown kind is shown as it is named. */
  what: string;
  /** The job or reason the ledger noted, or "". */
  detail: string;
  /** Signed: "+0.5 DPHN" into the account, "-0.0005 DPHN" out of it. */
  amount: string;
  direction: 'in' | 'out' | 'none';
}

export function historyRow(entry: LedgerEntryView, formatTime: (iso: string) => string): HistoryRow {
  const micros = entry.amount.micros;
  return {
    transferId: entry.transfer_id,
    at: entry.created_at,
    time: formatTime(entry.created_at),
    what: ENTRY_LABELS[entry.kind] ?? entry.kind,
    detail: entry.memo ?? '',
    amount: micros > 0 ? `+${entry.amount.dphn}` : entry.amount.dphn,
    direction: micros > 0 ? 'in' : micros < 0 ? 'out' : 'none',
  };
}

/**
 * The rows shown after the next older page arrived: `older` appended, leaving out any row already shown (a refresh
 * between the two reads can shift a row across the boundary), and its cursor for the page after it.
 */
export function withOlder<T>(shown: Page<T>, older: Page<T>, idOf: (item: T) => string | number): Page<T> {
  const seen = new Set(shown.data.map(idOf));
  return { data: [...shown.data, ...older.data.filter((item) => !seen.has(idOf(item)))], next: older.next };
}

export interface PriceRow {
  model: string;
  prompt: string;
  completion: string;
}

/** Prices per 1K tokens, in the network's order. */
export function priceRows(prices: PriceView[]): PriceRow[] {
  return prices.map((p) => ({ model: p.model, prompt: p.prompt_per_1k.dphn, completion: p.completion_per_1k.dphn }));
}

/** The model the snippets start with: `preferred` when the network serves it, else its first model. */
export function defaultModel(models: string[], preferred: string): string | null {
  return models.includes(preferred) ? preferred : (models[0] ?? null);
}
