/**
 * What a <dolphin-chat> without its own attributes uses: the widget script's config, set once by the entry before
 * the element is defined, so elements a page writes itself also reach the coordinator widget.js came from.
 */
import { DEMO_API_KEY } from '../protocol/demo-key.ts';
import { DEFAULT_MODEL } from './config.ts';

export const elementDefaults: { apiBase: string; apiKey: string; model: string; payoutAccount: string | null } = { apiBase: '', apiKey: DEMO_API_KEY, model: DEFAULT_MODEL, payoutAccount: null };
