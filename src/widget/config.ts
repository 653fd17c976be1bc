/**
 * What the widget's <script> tag asks for: `data-api-key`, `data-model`, `data-target` (a selector to mount into),
 * `data-mount="false"` (the JS API only, no element), `data-api-base`, and `data-payout-account` (the site's account
 * id, `acct_…`: what a visitor who lends their GPU earns goes there); the API's base URL is otherwise the
 * folder widget.js was loaded from, so a coordinator behind a path prefix works too.
 */
import { DEMO_API_KEY } from '../protocol/demo-key.ts';
import { isAccountId } from '../protocol/account-id.ts';

export const DEFAULT_MODEL = 'dolphin-tiny';

export interface WidgetConfig {
  /** The coordinator's URL, no trailing slash. */
  apiBase: string;
  apiKey: string;
  model: string;
  /** Where to mount <dolphin-chat>: a selector, or null for right after the script tag. */
  target: string | null;
  /** Whether to mount <dolphin-chat> at all. */
  mount: boolean;
  /** The site's requester account that lent GPUs earn for; null: the visitor's own contributor identity keeps it. */
  payoutAccount: string | null;
}

/** A requester account id as the coordinator makes them; throws a TypeError naming `what` otherwise. */
export function payoutAccountOf(value: string, what: string): string {
  if (!isAccountId(value)) throw new TypeError(`Dolphin widget: ${what} "${value}" is not an account id (acct_…)`);
  return value;
}

export interface ScriptTag {
  /** The script's resolved src (HTMLScriptElement.src). */
  src: string;
  dataset: Readonly<Record<string, string | undefined>>;
}

/** The base URL of an http(s) URL string without a trailing slash; throws a TypeError naming `what` otherwise. */
export function apiBaseOf(url: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Dolphin widget: ${what} "${url}" is not an absolute URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`Dolphin widget: ${what} "${url}" is not an http(s) URL`);
  return `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, '');
}

/** The config from the widget's script tag; `script` null (the script was not loaded by a tag) gives `fallbackBase`'s. */
export function widgetConfig(script: ScriptTag | null, fallbackBase: string): WidgetConfig {
  const data = script?.dataset ?? {};
  const folder = script?.src ? new URL('.', script.src).href : fallbackBase;
  const nonEmpty = (value: string | undefined) => (value && value.trim() ? value.trim() : null);
  return {
    apiBase: apiBaseOf(nonEmpty(data.apiBase) ?? folder, nonEmpty(data.apiBase) ? 'data-api-base' : 'the script URL'),
    apiKey: nonEmpty(data.apiKey) ?? DEMO_API_KEY,
    model: nonEmpty(data.model) ?? DEFAULT_MODEL,
    target: nonEmpty(data.target),
    mount: script !== null && data.mount !== 'false',
    payoutAccount: nonEmpty(data.payoutAccount) ? payoutAccountOf(nonEmpty(data.payoutAccount) as string, 'data-payout-account') : null,
  };
}

/**
 * The coordinator's contribute page as the widget's "lend my GPU" frame loads it: its compact embedded view
 * (`embed=1`), where the visitor agrees and starts it on the coordinator's own origin, serving the site's model, and
 * earning for the site's account when it names one (`payout`).
 */
export function lendFrameUrl(apiBase: string, model: string, payoutAccount: string | null = null): string {
  return `${apiBase}/?${new URLSearchParams({ embed: '1', model, ...(payoutAccount ? { payout: payoutAccount } : {}) }).toString()}`;
}
