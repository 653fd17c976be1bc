/**
 * The developers page's client for the accounts API (coordinator/api/account-routes.ts, shapes in
 * src/protocol/accounts.ts) and the network's prices. `fetch` is passed in (the page's, or a test app's
 * `app.request`). Every failure is an AccountApiError carrying the API's own message, code and status.
 */
import type { AccountView, ApiKeyView, EconomyView, LedgerEntryView, NewKeyView, Page, UsageView } from '../protocol/accounts.ts';

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export class AccountApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    /** Seconds, from Retry-After, when the API said when to try again. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'AccountApiError';
  }
}

/** The error a failed response's body (an OpenAI-shaped error, or anything else) stands for. Pure. */
export function errorFromResponse(status: number, body: unknown, retryAfterHeader: string | null): AccountApiError {
  const error = typeof body === 'object' && body !== null && 'error' in body ? (body as { error: unknown }).error : null;
  const fields = typeof error === 'object' && error !== null ? (error as { message?: unknown; code?: unknown }) : {};
  const retryAfter = Number(retryAfterHeader);
  const wait = retryAfterHeader !== null && Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null;
  const message = typeof fields.message === 'string' && fields.message ? fields.message : `The network answered HTTP ${status}.`;
  return new AccountApiError(
    wait === null ? message : `${message} Try again in ${wait} s.`,
    status,
    typeof fields.code === 'string' ? fields.code : null,
    wait,
  );
}

export interface NetworkPrices {
  models: string[];
  prices: EconomyView['prices'];
}

export interface PageRequest {
  limit?: number;
  before?: number | null;
}

/** Rows per page of usage and history. */
export const PAGE_SIZE = 20;

const pageParams = ({ limit = PAGE_SIZE, before = null }: PageRequest) => new URLSearchParams({ limit: String(limit), ...(before === null ? {} : { before: String(before) }) }).toString();

export function accountApi(fetchFn: Fetch) {
  async function call<T>(path: string, key: string | null, init: { method?: string; json?: unknown } = {}): Promise<T> {
    const headers: Record<string, string> = {};
    if (key !== null) headers.Authorization = `Bearer ${key}`;
    if (init.json !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetchFn(path, { method: init.method ?? 'GET', headers, ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}) });
    } catch (e) {
      throw new AccountApiError(`Could not reach the network: ${e instanceof Error ? e.message : String(e)}`, 0, null);
    }
    const body: unknown = await response.json().catch(() => null);
    if (!response.ok) throw errorFromResponse(response.status, body, response.headers.get('Retry-After'));
    return body as T;
  }

  return {
    /** A new account, its first key (shown in this response only) and the faucet's starter credits. */
    createAccount: (name: string | null) => call<{ account: AccountView; key: NewKeyView }>('/api/accounts', null, { method: 'POST', json: name ? { name } : {} }),
    account: (key: string) => call<AccountView>('/api/account', key),
    /** The account's jobs, newest first; `before` is the `next` of the page before. */
    usage: (key: string, page: PageRequest = {}) => call<Page<UsageView>>(`/api/account/usage?${pageParams(page)}`, key),
    /** The account's ledger entries, newest first; `before` is the `next` of the page before. */
    history: (key: string, page: PageRequest = {}) => call<Page<LedgerEntryView>>(`/api/account/history?${pageParams(page)}`, key),
    keys: (key: string) => call<{ data: ApiKeyView[] }>('/api/account/keys', key).then((r) => r.data),
    createKey: (key: string, name: string | null) => call<NewKeyView>('/api/account/keys', key, { method: 'POST', json: name ? { name } : {} }),
    revokeKey: (key: string, keyId: string) => call<{ id: string; revoked: boolean }>(`/api/account/keys/${encodeURIComponent(keyId)}`, key, { method: 'DELETE' }),
    /** The models the network serves and their prices. */
    prices: async (): Promise<NetworkPrices> => {
      const network = await call<{ models: Array<{ id: string }>; dphn: EconomyView }>('/api/network', null);
      return { models: network.models.map((m) => m.id), prices: network.dphn.prices };
    },
  };
}

export type AccountApi = ReturnType<typeof accountApi>;
