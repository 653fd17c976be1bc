/** From store records to the accounts API's views (src/protocol/accounts.ts). Pure. */
import type { Amount, ApiKeyView, LedgerEntryView, Page, UsageView } from '../../src/protocol/accounts.ts';
import type { ApiKeyInfo, JobBill } from '../ledger/economy-store.ts';
import type { HistoryEntry } from '../ledger/ledger-store.ts';
import { formatDphn } from '../ledger/pricing.ts';

export const amount = (micros: number): Amount => ({ micros, dphn: formatDphn(micros) });

export const keyView = (k: ApiKeyInfo): ApiKeyView => ({ id: k.id, prefix: k.prefix, name: k.name, created_at: k.createdAt, revoked_at: k.revokedAt });

export const entryView = (h: HistoryEntry): LedgerEntryView => ({ transfer_id: h.transferId, kind: h.kind, amount: amount(h.amount), memo: h.memo, created_at: h.createdAt });

/** A page of ledger entries read with `limit`: a full page may have more behind it, from its last transfer on. */
export const historyPage = (entries: HistoryEntry[], limit: number): Page<LedgerEntryView> => ({
  data: entries.map(entryView),
  next: entries.length === limit ? (entries.at(-1)?.transferId ?? null) : null,
});

export const usageView = (j: JobBill): UsageView => ({
  job_id: j.jobId,
  model: j.model,
  status: j.status,
  escrowed: amount(j.escrowed),
  charged: j.charged === null ? null : amount(j.charged),
  prompt_tokens: j.promptTokens,
  completion_tokens: j.completionTokens,
  contributor_id: j.contributorId,
  reason: j.reason,
  created_at: j.createdAt,
  ended_at: j.endedAt,
});
