/**
 * Copy-ready code for the developers page (issue #7): curl, the `openai` SDK (JS and Python) and the widget tag,
 * built from the network's origin, a model and the developer's key. Pure.
 *
 * Every value is quoted for the language it lands in, so whatever the origin, model or key hold, the snippet
 * passes exactly those strings (the tests run the curl and JS snippets and compare what they receive).
 */

/** What a snippet says where the developer has no key on the page. */
export const KEY_PLACEHOLDER = 'YOUR_API_KEY';

/** The prompt every snippet sends. */
export const SNIPPET_PROMPT = 'Hello! Who are you?';

export interface SnippetInput {
  /** The network's origin, e.g. `location.origin`: the API is under `${origin}/v1`. */
  origin: string;
  model: string;
  /** The developer's key; null gives KEY_PLACEHOLDER. */
  apiKey: string | null;
  /** The developer's account id: the widget tag names it, so what visitors' lent GPUs earn goes there. */
  accountId?: string | null;
  /** Kept small: the snippets are for trying the network out. */
  maxTokens: number;
}

export type SnippetId = 'curl' | 'openai-js' | 'openai-python' | 'widget';

export interface Snippet {
  id: SnippetId;
  label: string;
  code: string;
}

/** A POSIX shell word that is exactly `s`: single quotes, each `'` inside written as `'\''`. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * A double-quoted string literal that is exactly `s` in JavaScript and in Python 3: JSON's escapes (\" \\ \n \t
 * \uXXXX …) mean the same in both, and both take other characters as they are.
 */
export function stringLiteral(s: string): string {
  return JSON.stringify(s);
}

/** `s` as the value of a double-quoted HTML attribute. */
export function htmlAttribute(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll("'", '&#39;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** The origin without a trailing slash, so `${base}/v1` is one path. */
const baseOf = (origin: string) => origin.replace(/\/+$/, '');

export function curlSnippet(input: SnippetInput): string {
  const body = JSON.stringify({ model: input.model, messages: [{ role: 'user', content: SNIPPET_PROMPT }], max_tokens: input.maxTokens, stream: true }, null, 2);
  return [
    `curl -sN ${shellQuote(`${baseOf(input.origin)}/v1/chat/completions`)} \\`,
    `  -H ${shellQuote(`Authorization: Bearer ${input.apiKey ?? KEY_PLACEHOLDER}`)} \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d ${shellQuote(body)}`,
  ].join('\n');
}

export function openaiJsSnippet(input: SnippetInput): string {
  return `import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: ${stringLiteral(`${baseOf(input.origin)}/v1`)},
  apiKey: ${stringLiteral(input.apiKey ?? KEY_PLACEHOLDER)},
});

const stream = await client.chat.completions.create({
  model: ${stringLiteral(input.model)},
  messages: [{ role: 'user', content: ${stringLiteral(SNIPPET_PROMPT)} }],
  max_tokens: ${input.maxTokens},
  stream: true,
});
for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');
`;
}

export function openaiPythonSnippet(input: SnippetInput): string {
  return `from openai import OpenAI

client = OpenAI(
    base_url=${stringLiteral(`${baseOf(input.origin)}/v1`)},
    api_key=${stringLiteral(input.apiKey ?? KEY_PLACEHOLDER)},
)

stream = client.chat.completions.create(
    model=${stringLiteral(input.model)},
    messages=[{"role": "user", "content": ${stringLiteral(SNIPPET_PROMPT)}}],
    max_tokens=${input.maxTokens},
    stream=True,
)
for chunk in stream:
    if chunk.choices:
        print(chunk.choices[0].delta.content or "", end="", flush=True)
print()
`;
}

/** The widget's tag: widget.js mounts a <dolphin-chat> element that talks to the network with this key and model. */
export function widgetSnippet(input: SnippetInput): string {
  const attr = (s: string) => `"${htmlAttribute(s)}"`;
  const payout = input.accountId ? ` data-payout-account=${attr(input.accountId)}` : '';
  return `<script src=${attr(`${baseOf(input.origin)}/widget.js`)} data-api-key=${attr(input.apiKey ?? KEY_PLACEHOLDER)} data-model=${attr(input.model)}${payout}></script>`;
}

export function snippetsFor(input: SnippetInput): Snippet[] {
  if (!Number.isSafeInteger(input.maxTokens) || input.maxTokens < 1) throw new RangeError(`maxTokens must be a positive integer, not ${input.maxTokens}`);
  return [
    { id: 'curl', label: 'curl (streaming)', code: curlSnippet(input) },
    { id: 'openai-js', label: 'openai SDK, JavaScript', code: openaiJsSnippet(input) },
    { id: 'openai-python', label: 'openai SDK, Python', code: openaiPythonSnippet(input) },
    { id: 'widget', label: 'Chat widget for your web page', code: widgetSnippet(input) },
  ];
}
