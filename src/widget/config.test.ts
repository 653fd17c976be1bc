import { describe, expect, it } from 'vitest';
import { DEMO_API_KEY } from '../protocol/demo-key.ts';
import { apiBaseOf, lendFrameUrl, widgetConfig } from './config.ts';

describe('widgetConfig', () => {
  it('takes the API from the folder the script came from, and the key, model and target from its data attributes', () => {
    const config = widgetConfig({ src: 'https://dolphin.example/widget.js?v=2', dataset: { apiKey: 'dphn_abc', model: 'dolphin-small', target: '#chat' } }, 'https://site.example/');
    expect(config).toEqual({ apiBase: 'https://dolphin.example', apiKey: 'dphn_abc', model: 'dolphin-small', target: '#chat', mount: true, payoutAccount: null });
  });

  it('keeps a path prefix, and data-api-base overrides the script URL', () => {
    expect(widgetConfig({ src: 'https://host.example/dolphin/widget.js', dataset: {} }, '').apiBase).toBe('https://host.example/dolphin');
    expect(widgetConfig({ src: 'https://cdn.example/w/widget.js', dataset: { apiBase: 'http://127.0.0.1:8787/' } }, '').apiBase).toBe('http://127.0.0.1:8787');
  });

  it('defaults to the demo key and dolphin-tiny, mounted after the script; blank attributes count as absent', () => {
    expect(widgetConfig({ src: 'http://127.0.0.1:8787/widget.js', dataset: { apiKey: '  ', model: '' } }, '')).toEqual({ apiBase: 'http://127.0.0.1:8787', apiKey: DEMO_API_KEY, model: 'dolphin-tiny', target: null, mount: true, payoutAccount: null });
  });

  it('mounts nothing with data-mount="false", nor when no script tag loaded it (the fallback base is used)', () => {
    expect(widgetConfig({ src: 'http://a.example/widget.js', dataset: { mount: 'false' } }, '').mount).toBe(false);
    expect(widgetConfig(null, 'http://b.example/')).toMatchObject({ apiBase: 'http://b.example', mount: false });
  });

  it('rejects a base that is not an absolute http(s) URL, naming where it came from', () => {
    expect(() => widgetConfig({ src: 'http://a.example/widget.js', dataset: { apiBase: 'ftp://x' } }, '')).toThrow(/data-api-base "ftp:\/\/x" is not an http\(s\) URL/);
    expect(() => apiBaseOf('/relative', 'api-base')).toThrow(/api-base "\/relative" is not an absolute URL/);
  });
});

describe('lendFrameUrl', () => {
  it("is the coordinator's contribute page in embedded mode with the site's model (the visitor starts it there)", () => {
    expect(lendFrameUrl('https://host.example/dolphin', 'dolphin small&x')).toBe('https://host.example/dolphin/?embed=1&model=dolphin+small%26x');
    expect(lendFrameUrl('https://host.example', 'dolphin-tiny', 'acct_00ff')).toBe('https://host.example/?embed=1&model=dolphin-tiny&payout=acct_00ff');
  });
  it('takes the site account lent GPUs earn for, and refuses what is no account id', () => {
    const tag = (payoutAccount: string) => ({ src: 'https://dolphin.example/widget.js', dataset: { payoutAccount } });
    expect(widgetConfig(tag('acct_0123abcd'), '').payoutAccount).toBe('acct_0123abcd');
    expect(widgetConfig(tag(' '), '').payoutAccount).toBeNull();
    expect(() => widgetConfig(tag('acct_X"><script>'), '')).toThrow(/data-payout-account .* is not an account id/);
  });
});
