/**
 * The coordinator's store on one SQLite file (the embedded default): the ledger, requesters, bills, contributors'
 * money and audit records, sharing one connection so operations that touch several of them are one transaction.
 */
import type { Store } from '../ledger/economy-store.ts';
import { openDatabase } from './schema.ts';
import { sqliteBilling } from './sqlite-billing.ts';
import { sqliteContributors } from './sqlite-contributors.ts';
import { ledgerWriter, sqliteLedger } from './sqlite-ledger.ts';
import { sqliteRequesters } from './sqlite-requesters.ts';
import { sqliteTrust } from './sqlite-trust.ts';

export function openSqliteStore(options: { path: string; now?: () => Date }): Store {
  const now = options.now ?? (() => new Date());
  const db = openDatabase(options.path);
  const writer = ledgerWriter(db, now);
  return {
    ledger: sqliteLedger(writer),
    requesters: sqliteRequesters(db, writer, now),
    billing: sqliteBilling(db, writer, now),
    contributors: sqliteContributors(db, writer, now),
    trust: sqliteTrust(db, now),
    close: () => db.close(),
  };
}
