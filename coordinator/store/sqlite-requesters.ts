/** Requesters and their API keys on SQLite (issue #5). A key is stored as its SHA-256 only. */
import type Database from 'better-sqlite3';
import { MINT, requesterAccount } from '../ledger/accounts.ts';
import type { ApiKeyInfo, NewApiKey, Requester, RequesterStore } from '../ledger/economy-store.ts';
import type { LedgerWriter } from './sqlite-ledger.ts';

type KeyRow = ApiKeyInfo;
const KEY_COLUMNS = 'id, requester_id AS requesterId, prefix, name, created_at AS createdAt, revoked_at AS revokedAt';

export function sqliteRequesters(db: Database.Database, ledger: LedgerWriter, now: () => Date): RequesterStore {
  const insertRequester = db.prepare<[string, string, string]>('INSERT INTO requesters (id, name, created_at) VALUES (?, ?, ?)');
  const ensureRequester = db.prepare<[string, string, string]>('INSERT INTO requesters (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING');
  const getRequester = db.prepare<[string], Requester>('SELECT id, name, created_at AS createdAt FROM requesters WHERE id = ?');
  const insertKey = db.prepare<[string, string, string, string, string | null, string]>('INSERT INTO api_keys (id, requester_id, hash, prefix, name, created_at) VALUES (?, ?, ?, ?, ?, ?)');
  const keyByHash = db.prepare<[string], KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE hash = ? AND revoked_at IS NULL`);
  const keysOf = db.prepare<[string], KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE requester_id = ? ORDER BY created_at, id`);
  const revoke = db.prepare<[string, string, string]>('UPDATE api_keys SET revoked_at = ? WHERE requester_id = ? AND id = ? AND revoked_at IS NULL');
  const recordGrant = db.prepare<[string, string, number, string]>('INSERT INTO faucet_grants (claimant, account_id, amount, granted_at) VALUES (?, ?, ?, ?)');

  const addKey = (requesterId: string, key: NewApiKey) => insertKey.run(key.id, requesterId, key.sha256, key.prefix, key.name, now().toISOString());

  const create = db.transaction((id: string, name: string, key: NewApiKey, starterCredits: number) => {
    insertRequester.run(id, name, now().toISOString());
    addKey(id, key);
    if (starterCredits <= 0) return;
    const account = requesterAccount(id);
    recordGrant.run(account, account, starterCredits, now().toISOString());
    const granted = ledger.apply({ idempotencyKey: `faucet:${account}`, kind: 'faucet', memo: 'starter credits', postings: [{ account: MINT, amount: -starterCredits }, { account, amount: starterCredits }] });
    if (!granted.ok) throw new Error(`starter credits for ${id}: ${granted.message}`);
  });

  return {
    create: async ({ id, name, key, starterCredits }) => create.immediate(id, name, key, starterCredits),
    ensure: async ({ id, name }) => void ensureRequester.run(id, name, now().toISOString()),
    get: async (id) => getRequester.get(id) ?? null,
    addKey: async (requesterId, key) => void addKey(requesterId, key),
    async findKey(sha256) {
      const key = keyByHash.get(sha256);
      const requester = key && getRequester.get(key.requesterId);
      return key && requester ? { key, requester } : null;
    },
    keys: async (requesterId) => keysOf.all(requesterId),
    revokeKey: async (requesterId, keyId) => revoke.run(now().toISOString(), requesterId, keyId).changes === 1,
  };
}
