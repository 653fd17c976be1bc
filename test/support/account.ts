/** A requester account for end-to-end tests: made through the API like anyone's, its key and balance. */
import type { AccountView, NewKeyView } from '../../src/protocol/accounts.ts';

export async function newAccount(baseURL: string, name = 'e2e'): Promise<{ apiKey: string; account: AccountView }> {
  const response = await fetch(`${baseURL}/api/accounts`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name }) });
  if (response.status !== 201) throw new Error(`creating an account: HTTP ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { account: AccountView; key: NewKeyView };
  return { apiKey: body.key.key, account: body.account };
}
