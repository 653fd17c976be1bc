/**
 * What the chat page says about each answer (issue #7): the settings a visitor may send, the decode speed seen in
 * the page, what the answer cost in DPHN, and what the audit API says of its job. Pure.
 */
import { MICROS_PER_DPHN } from './dphn-amount.ts';
import type { PriceView } from '../protocol/accounts.ts';
import type { Usage } from '../protocol/api.ts';
import type { AuditStatus, JobAudit } from '../protocol/audits.ts';

/** What the page knows of one answer, as it streams and after. */
export interface AnswerFacts {
  /** Who made it: a contributor's tab through the network, or this tab's own worker. */
  source: 'network' | 'local';
  backend: string | null;
  /** The network's answers only: the serving tab and its contributor identity. */
  tab: string | null;
  contributor: string | null;
  seed: number | null;
  /** Tokens received (for a network answer: chunks until its usage tells the tokens), in how many deliveries, and when (performance.now()) the first and the last came. */
  tokens: number;
  deliveries: number;
  firstAt: number | null;
  lastAt: number | null;
  usage: Pick<Usage, 'prompt_tokens' | 'completion_tokens'> | null;
  /** µDPHN charged (the network's answers; null when unknown, e.g. stopped before the usage came). */
  charge: number | null;
  /** The completion's id, which is its job's id at the audit API. */
  jobId: string | null;
  audit: AuditView | null;
}

/** The bounds the chat page's controls enforce: the API's for temperature and seed; max tokens a demo-sized cap. */
export const CHAT_LIMITS = { maxTemperature: 2, maxTokens: 2048, maxSeed: Number.MAX_SAFE_INTEGER } as const;

export interface ChatSettings {
  temperature: number;
  maxTokens: number;
  /** Null: a random seed (the coordinator draws one; the local worker's is drawn in the page). */
  seed: number | null;
}

/** What the controls hold: a number input gives a number, or null/undefined when blank or unparseable. */
export interface ChatSettingsInput {
  temperature: number | null | undefined;
  maxTokens: number | null | undefined;
  seed: number | null | undefined;
}

export type SettingsCheck = { ok: true; settings: ChatSettings } | { ok: false; error: string };

const present = (value: number | null | undefined): value is number => typeof value === 'number' && !Number.isNaN(value);

export function checkSettings(input: ChatSettingsInput): SettingsCheck {
  const { temperature, maxTokens, seed } = input;
  if (!present(temperature) || temperature < 0 || temperature > CHAT_LIMITS.maxTemperature) return { ok: false, error: `Temperature must be a number from 0 to ${CHAT_LIMITS.maxTemperature}.` };
  if (!present(maxTokens) || !Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > CHAT_LIMITS.maxTokens) return { ok: false, error: `Max tokens must be a whole number from 1 to ${CHAT_LIMITS.maxTokens}.` };
  if (present(seed) && (!Number.isSafeInteger(seed) || seed < 0)) return { ok: false, error: `The seed must be a whole number from 0 to ${CHAT_LIMITS.maxSeed}, or blank for a random one.` };
  return { ok: true, settings: { temperature, maxTokens, seed: present(seed) ? seed : null } };
}

/**
 * Tokens per second between the first and the last delivery the page received: the deliveries after the first over
 * the time they took (the first one's wait is the queue and the prompt, not decoding), times the tokens a delivery
 * carried on average (the tab batches tokens when they come fast, so a chunk may hold several). Null with fewer than
 * two deliveries or no time between them.
 */
export function decodeSpeed(tokens: number, deliveries: number, firstAt: number | null, lastAt: number | null): number | null {
  if (deliveries < 2 || tokens < deliveries || firstAt === null || lastAt === null || lastAt <= firstAt) return null;
  return ((deliveries - 1) / ((lastAt - firstAt) / 1000)) * (tokens / deliveries);
}

/**
 * What a job of this usage is charged, in µDPHN: ceil((prompt · promptPer1K + completion · completionPer1K) / 1000),
 * the coordinator's rule (coordinator/ledger/pricing.ts costOf). Null when the price is not known.
 */
export function chargeOf(price: Pick<PriceView, 'prompt_per_1k' | 'completion_per_1k'> | undefined, usage: Pick<Usage, 'prompt_tokens' | 'completion_tokens'>): number | null {
  if (!price) return null;
  const micros = BigInt(usage.prompt_tokens) * BigInt(price.prompt_per_1k.micros) + BigInt(usage.completion_tokens) * BigInt(price.completion_per_1k.micros);
  return Number((micros + 999n) / 1000n);
}


/** µDPHN as DPHN with up to six decimals and no trailing zeros ("0.000123 DPHN"), as the API formats amounts. */
export function formatDphn(micros: number): string {
  if (!Number.isSafeInteger(micros)) throw new RangeError(`${micros} is not a whole number of µDPHN`);
  const magnitude = Math.abs(micros);
  const fraction = magnitude % MICROS_PER_DPHN;
  const whole = (magnitude - fraction) / MICROS_PER_DPHN;
  const decimals = fraction === 0 ? '' : `.${String(fraction).padStart(6, '0').replace(/0+$/, '')}`;
  return `${micros < 0 ? '-' : ''}${whole}${decimals} DPHN`;
}

/**
 * An answer's audit as the page knows it. The audit API publishes only decided audits (audit-routes.ts): a job not
 * sampled, one whose audit is under way and an unknown job all answer 404, so those cannot be told apart: they are
 * `undecided` while the page still asks, then `none`.
 */
export type AuditView =
  | { state: 'checking' }
  | { state: 'undecided' }
  | { state: 'none' }
  | { state: 'decided'; status: Exclude<AuditStatus, 'pending'>; verdicts: number }
  | { state: 'error'; message: string };

/** The audit API's answer for a job, read: `last` says whether the page will ask again. */
export function auditViewOf(httpStatus: number, body: unknown, last: boolean): AuditView {
  if (httpStatus === 404) return { state: last ? 'none' : 'undecided' };
  if (httpStatus !== 200) return { state: 'error', message: `the audit API answered HTTP ${httpStatus}` };
  const audit = body as Partial<JobAudit> | null;
  const status = audit?.status;
  if (status !== 'passed' && status !== 'convicted' && status !== 'unverified') return { state: 'error', message: 'the audit API answered something unexpected' };
  return { state: 'decided', status, verdicts: Array.isArray(audit?.verdicts) ? audit.verdicts.length : 0 };
}

/** Whether the page should stop asking about this audit. */
export const auditSettled = (view: AuditView): boolean => view.state === 'decided' || view.state === 'none' || view.state === 'error';

export function auditLabel(view: AuditView): string {
  switch (view.state) {
    case 'checking':
      return 'checking…';
    case 'undecided':
      return 'not decided yet';
    case 'none':
      return 'none decided (not sampled, or still under way)';
    case 'error':
      return `unknown (${view.message})`;
    case 'decided':
      return view.status === 'passed' ? `passed (${view.verdicts} ${view.verdicts === 1 ? 'verdict' : 'verdicts'})` : view.status === 'convicted' ? `failed: the contributor was convicted (${view.verdicts} verdicts)` : 'unverified: no verifier could judge it in time';
  }
}

/** The first characters of an id, enough to tell contributors apart on screen. */
