/**
 * widget.js, built into one self-contained file (vite.widget.config.ts) and served by the coordinator to any origin:
 *
 *   <script src="https://COORDINATOR/widget.js" data-api-key="dphn_…" data-model="dolphin-tiny"></script>
 *
 * defines <dolphin-chat>, mounts one right after the script tag (or into `data-target`; none with
 * `data-mount="false"`) and exposes window.Dolphin: stream / complete against the same coordinator.
 */
import DolphinChat from './DolphinChat.svelte';
import { ChatStreamError, createClient, type DolphinClient } from './client.ts';
import { widgetConfig, type WidgetConfig } from './config.ts';
import { elementDefaults } from './defaults.ts';

export interface DolphinApi extends DolphinClient {
  config: Readonly<WidgetConfig>;
  /** What a failed request rejects with: `status` (HTTP) and `code` (the API's error code) when known. */
  Error: typeof ChatStreamError;
}

declare global {
  interface Window {
    Dolphin?: DolphinApi;
  }
}

const TAG = 'dolphin-chat';

function mountInto(config: WidgetConfig, script: HTMLScriptElement) {
  const element = document.createElement(TAG);
  element.setAttribute('api-key', config.apiKey);
  element.setAttribute('model', config.model);
  element.setAttribute('api-base', config.apiBase);
  if (!config.target) return script.after(element);
  const place = () => {
    const target = document.querySelector(config.target as string);
    if (target) target.append(element);
    else console.error(`Dolphin widget: no element matches data-target "${config.target}"; nothing mounted`);
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', place, { once: true });
  else place();
}

function start() {
  const script = document.currentScript instanceof HTMLScriptElement ? document.currentScript : null;
  const config = widgetConfig(script ? { src: script.src, dataset: { ...script.dataset } } : null, location.href);
  Object.assign(elementDefaults, { apiBase: config.apiBase, apiKey: config.apiKey, model: config.model, payoutAccount: config.payoutAccount });
  // A page that loads widget.js twice keeps the first definition (define would throw).
  if (!customElements.get(TAG)) customElements.define(TAG, (DolphinChat as unknown as { element: CustomElementConstructor }).element);
  window.Dolphin = { ...createClient(config), config: Object.freeze(config), Error: ChatStreamError };
  if (config.mount && script) mountInto(config, script);
}

start();
