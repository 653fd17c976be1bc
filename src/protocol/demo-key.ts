/** The key the demo chat uses: public, rate-limited per client address, paid for by the network. Kept apart from
 * accounts.ts (zod schemas) so the widget's bundle need not carry zod for one constant. */
export const DEMO_API_KEY = 'dphn_demo';
