/**
 * The economy over an in-memory SQLite store, for tests of the app: real billing and accounts, a requester with
 * an API key and plenty of credits, and every client seen as 127.0.0.1.
 */
import { newApiKey } from '../../coordinator/api/auth.ts';
import { createEconomy, DEFAULT_ECONOMY, type EconomySettings } from '../../coordinator/economy.ts';
import type { ModelCatalogue } from '../../coordinator/models/catalogue.ts';
import { openSqliteStore } from '../../coordinator/store/sqlite-store.ts';
import { AuditBook } from '../../coordinator/trust/audit-book.ts';
import type { PlainMessage } from '../../src/protocol/api.ts';

export async function testEconomy(options: {
  catalogue: ModelCatalogue;
  book?: AuditBook;
  settings?: Partial<EconomySettings>;
  countPromptTokens?: (model: string, messages: PlainMessage[]) => number | null;
  changed?: () => void;
  now?: () => number;
}) {
  const store = openSqliteStore({ path: ':memory:', ...(options.now ? { now: () => new Date(options.now?.() ?? 0) } : {}) });
  const wiring = await createEconomy({
    store,
    settings: { ...DEFAULT_ECONOMY, ...options.settings },
    catalogue: options.catalogue,
    book: options.book ?? new AuditBook(),
    pMin: 0.05,
    countPromptTokens: options.countPromptTokens ?? (() => null),
    changed: options.changed ?? (() => {}),
    jobRunning: () => true,
    clientAddress: () => '127.0.0.1',
    ...(options.now ? { now: options.now } : {}),
    log: () => {},
  });
  const { secret, record } = newApiKey('test');
  await store.requesters.create({ id: 'acct_test', name: 'test', key: record, starterCredits: 1e12 });
  return { store, wiring, apiKey: secret };
}
