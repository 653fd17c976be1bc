/**
 * What the contributor sets on the contribute page (issue #7): pause now, pause while the tab is hidden, the share of
 * time the tab may compute, and the other models it may load on demand. Kept in this browser's localStorage; turned
 * into the limits the tab reports (tab.ts `ContributorLimits`) by `limitsFrom`, which is pure.
 */
import { z } from 'zod';
import type { ContributorLimits } from '../protocol/tab.ts';

export const contributorSettingsSchema = z.object({
  pauseNow: z.boolean(),
  pauseWhenHidden: z.boolean(),
  /** The share of time the tab may compute, in (0, 1]. */
  share: z.number().gt(0).max(1),
  /** Models besides the one loaded that the tab may load when a job needs one. */
  alsoServe: z.array(z.string().min(1).max(128)).max(64),
});
export type ContributorSettings = z.infer<typeof contributorSettingsSchema>;

export const DEFAULT_SETTINGS: Readonly<ContributorSettings> = Object.freeze({ pauseNow: false, pauseWhenHidden: false, share: 1, alsoServe: [] });

/** The shares the page offers. */
export const SHARES = [1, 0.75, 0.5, 0.25] as const;

/**
 * The limits the tab reports: paused when the contributor paused it, or it is hidden and they asked to pause then;
 * the models: null (only the one loaded) unless they chose others, which come after the loaded one.
 */
export function limitsFrom(settings: ContributorSettings, loadedModel: string, hidden: boolean): ContributorLimits {
  const others = settings.alsoServe.filter((m) => m !== loadedModel);
  return {
    paused: settings.pauseNow || (settings.pauseWhenHidden && hidden),
    models: others.length ? [loadedModel, ...others] : null,
    share: settings.share,
  };
}

const KEY = 'dolphin.contributor-settings';
const CONSENT_KEY = 'dolphin.consent';
/** The consent text's version: a change to what runs or what is shared asks again. */
export const CONSENT_VERSION = 1;

/** Whether the contributor agreed to the current consent text in this browser. */
export function hasConsent(storage: Pick<Storage, 'getItem'> | null): boolean {
  try {
    return storage?.getItem(CONSENT_KEY) === String(CONSENT_VERSION);
  } catch {
    return false;
  }
}

export function saveConsent(storage: Pick<Storage, 'setItem' | 'removeItem'> | null, agreed: boolean): void {
  try {
    if (agreed) storage?.setItem(CONSENT_KEY, String(CONSENT_VERSION));
    else storage?.removeItem(CONSENT_KEY);
  } catch {
    // A disabled storage: consent lasts for this page only.
  }
}

/** The settings kept in `storage`, or the defaults when there are none or they do not parse. */
export function loadSettings(storage: Pick<Storage, 'getItem'> | null): ContributorSettings {
  try {
    const parsed = contributorSettingsSchema.safeParse(JSON.parse(storage?.getItem(KEY) ?? 'null'));
    return parsed.success ? parsed.data : { ...DEFAULT_SETTINGS, alsoServe: [] };
  } catch {
    return { ...DEFAULT_SETTINGS, alsoServe: [] };
  }
}

export function saveSettings(storage: Pick<Storage, 'setItem'> | null, settings: ContributorSettings): void {
  try {
    storage?.setItem(KEY, JSON.stringify(settings));
  } catch {
    // A full or disabled storage: the settings last for this page only.
  }
}
