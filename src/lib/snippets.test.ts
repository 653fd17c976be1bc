import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { htmlAttribute, KEY_PLACEHOLDER, shellQuote, SNIPPET_PROMPT, snippetsFor, stringLiteral, widgetSnippet, type SnippetId, type SnippetInput } from './snippets.ts';

const plain: SnippetInput = { origin: 'http://127.0.0.1:8787', model: 'dolphin-tiny', apiKey: 'dphn_abcDEF-123_x', maxTokens: 16 };
/** Values that break naive quoting in each language the snippets land in. */
const hostile: SnippetInput = {
  origin: "http://ex'ample.test:1/",
  model: `m'"\\$(touch /tmp/x)\`id\`</script><b>&amp;\n\u2028é😀`,
  apiKey: `k'ey"$HOME\\n`,
  maxTokens: 3,
};

const code = (input: SnippetInput, id: SnippetId) => snippetsFor(input).find((s) => s.id === id)?.code ?? '';

/** The arguments bash hands to `curl` when it runs the snippet (curl replaced by a function that prints them). */
function curlArguments(snippet: string): string[] {
  const out = execFileSync('bash', ['-c', `curl() { printf '%s\\0' "$@"; }\n${snippet}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

/** What the JS snippet passes to the SDK, run with a stand-in `OpenAI` class that records it. */
async function openaiJsCalls(snippet: string): Promise<{ client: unknown; create: unknown; written: string[] }> {
  const calls = { client: undefined as unknown, create: undefined as unknown, written: [] as string[] };
  class OpenAI {
    chat = { completions: { create: async (body: unknown) => ((calls.create = body), (async function* () { yield { choices: [{ delta: { content: 'hi' } }] }; })()) } };
    constructor(options: unknown) {
      calls.client = options;
    }
  }
  const body = snippet.replace(/^import OpenAI from 'openai';$/m, '');
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...values: unknown[]) => Promise<void>;
  await new AsyncFunction('OpenAI', 'process', body)(OpenAI, { stdout: { write: (s: string) => calls.written.push(s) } });
  return calls;
}

/** What the Python snippet passes to the SDK, run by python3 with a stand-in `openai` module. */
function openaiPythonCalls(snippet: string): unknown {
  const harness = `import sys, types, json
calls = {}
class Completions:
    def create(self, **kw):
        calls["create"] = kw
        return iter([])
class OpenAI:
    def __init__(self, **kw):
        calls["client"] = kw
        self.chat = types.SimpleNamespace(completions=Completions())
sys.modules["openai"] = types.SimpleNamespace(OpenAI=OpenAI)
exec(sys.stdin.read())
print(json.dumps(calls))`;
  const run = spawnSync('python3', ['-c', harness], { input: snippet, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '');
}

const hasPython = spawnSync('python3', ['--version']).status === 0;

describe('snippetsFor', () => {
  it('gives curl, the openai SDK in JS and Python, and the widget tag, each labelled', () => {
    expect(snippetsFor(plain).map((s) => [s.id, s.label.length > 0])).toEqual([
      ['curl', true],
      ['openai-js', true],
      ['openai-python', true],
      ['widget', true],
    ]);
  });

  for (const [name, input] of [['plain values', plain], ['values that need quoting', hostile]] as const) {
    it(`curl gets exactly the URL, key and a streaming body (${name})`, () => {
      const args = curlArguments(code(input, 'curl'));
      const base = input.origin.replace(/\/+$/, '');
      expect(args.slice(0, 2)).toEqual(['-sN', `${base}/v1/chat/completions`]);
      expect(args.slice(2, 6)).toEqual(['-H', `Authorization: Bearer ${input.apiKey}`, '-H', 'Content-Type: application/json']);
      expect(args[6]).toBe('-d');
      expect(JSON.parse(args[7] ?? '')).toEqual({ model: input.model, messages: [{ role: 'user', content: SNIPPET_PROMPT }], max_tokens: input.maxTokens, stream: true });
      expect(args).toHaveLength(8);
    });

    it(`the JS SDK gets exactly the base URL, key and model (${name})`, async () => {
      const calls = await openaiJsCalls(code(input, 'openai-js'));
      expect(calls.client).toEqual({ baseURL: `${input.origin.replace(/\/+$/, '')}/v1`, apiKey: input.apiKey });
      expect(calls.create).toEqual({ model: input.model, messages: [{ role: 'user', content: SNIPPET_PROMPT }], max_tokens: input.maxTokens, stream: true });
      expect(calls.written).toEqual(['hi']);
    });

    it.skipIf(!hasPython)(`the Python SDK gets exactly the base URL, key and model (${name})`, () => {
      expect(openaiPythonCalls(code(input, 'openai-python'))).toEqual({
        client: { base_url: `${input.origin.replace(/\/+$/, '')}/v1`, api_key: input.apiKey },
        create: { model: input.model, messages: [{ role: 'user', content: SNIPPET_PROMPT }], max_tokens: input.maxTokens, stream: true },
      });
    });
  }

  it('puts the key, model and script URL into the widget tag as attribute values', () => {
    expect(code(plain, 'widget')).toBe('<script src="http://127.0.0.1:8787/widget.js" data-api-key="dphn_abcDEF-123_x" data-model="dolphin-tiny"></script>');
    expect(widgetSnippet({ ...plain, accountId: 'acct_00ff' })).toBe('<script src="http://127.0.0.1:8787/widget.js" data-api-key="dphn_abcDEF-123_x" data-model="dolphin-tiny" data-payout-account="acct_00ff"></script>');
    const tag = code(hostile, 'widget');
    const doc = new DOMParserLike(tag);
    expect(doc.attributes).toEqual({ src: "http://ex'ample.test:1/widget.js", 'data-api-key': hostile.apiKey, 'data-model': hostile.model });
  });

  it('uses the placeholder where there is no key', () => {
    const snippets = snippetsFor({ ...plain, apiKey: null });
    for (const s of snippets) expect(s.code).toContain(KEY_PLACEHOLDER);
    expect(curlArguments(code({ ...plain, apiKey: null }, 'curl'))[3]).toBe(`Authorization: Bearer ${KEY_PLACEHOLDER}`);
  });

  it('refuses a max_tokens that is not a positive integer', () => {
    for (const maxTokens of [0, -1, 1.5, Number.NaN]) expect(() => snippetsFor({ ...plain, maxTokens })).toThrow(RangeError);
  });
});

describe('quoting', () => {
  it('shellQuote survives bash', () => {
    for (const s of ['', "'", "a'b''c", '$(id) `id` "x" \\ \n é']) expect(execFileSync('bash', ['-c', `printf '%s' ${shellQuote(s)}`], { encoding: 'utf8' })).toBe(s);
  });
  it('stringLiteral is the string in JS', () => {
    for (const s of ['', '"', "'", '\\', '\n\u2028${x}', '😀']) expect(new Function(`return ${stringLiteral(s)}`)()).toBe(s);
  });
  it('htmlAttribute leaves no quote or tag character', () => {
    expect(htmlAttribute(`a"b'c<d>e&f`)).toBe('a&quot;b&#39;c&lt;d&gt;e&amp;f');
  });
});

/**
 * The attributes of the one element in `html`, decoded as an HTML parser does for double-quoted values with the
 * five entities htmlAttribute writes (vitest runs in Node, without a DOM).
 */
class DOMParserLike {
  attributes: Record<string, string> = {};
  constructor(html: string) {
    const match = /^<script((?:\s+[\w-]+="[^"]*")*)><\/script>$/.exec(html);
    if (!match) throw new Error(`not one script element: ${html}`);
    const decode = (v: string) => v.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
    for (const [, name, value] of (match[1] ?? '').matchAll(/\s+([\w-]+)="([^"]*)"/g)) this.attributes[name ?? ''] = decode(value ?? '');
  }
}
