/**
 * POST /v1/chat/completions, OpenAI-compatible, streaming (SSE) and not. The response starts only when the tab's
 * first event arrives, so failures before any token (no room in the context, tab lost) still get a proper HTTP
 * status; failures after that arrive as an OpenAI error object in a `data:` event.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { z } from 'zod';
import { chatCompletionRequestSchema, toPlainMessages, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type TokenLogprob, type Usage } from '../../src/protocol/api.ts';
import type { TokenCandidate, TokenEntry } from '../../src/protocol/tab.ts';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Job, JobBoard, JobEvent, StartFailure } from '../jobs/job-board.ts';
import type { ModelCatalogue } from '../models/catalogue.ts';
import { ApiError, fromTabFailure, invalidRequest, modelNotFound, noCapacity, tabsBusy, toApiError } from './errors.ts';
import { planSampling } from './sampling-plan.ts';

export interface ChatCompletionsDeps {
  catalogue: ModelCatalogue;
  board: JobBoard;
  randomSeed: () => number;
  now?: () => number;
}

export function parseChatRequest(text: string): ChatCompletionRequest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalidRequest('We could not parse the JSON body of your request. The body must be a JSON object.', null, 'invalid_json');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalidRequest('The request body must be a JSON object.', null, 'invalid_json');
  const result = chatCompletionRequestSchema.safeParse(json);
  if (!result.success) throw fromZodIssue(result.error.issues[0], json as Record<string, unknown>);
  return result.data;
}

function fromZodIssue(issue: z.core.$ZodIssue | undefined, body: Record<string, unknown>): ApiError {
  if (!issue) return invalidRequest('Invalid request.');
  const param = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('') || null;
  const top = issue.path[0];
  if (issue.path.length === 1 && typeof top === 'string' && !(top in body)) return invalidRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
  const code = issue.code === 'custom' && typeof issue.params?.['code'] === 'string' ? issue.params['code'] : 'invalid_value';
  return invalidRequest(`Invalid value for '${param}': ${issue.message}.`, param, code);
}

const toLogprob = (t: TokenCandidate): Omit<TokenLogprob, 'top_logprobs'> => ({ token: t.token, logprob: t.logprob, bytes: t.bytes });

function tokenLogprob(entry: TokenEntry): TokenLogprob {
  return { ...toLogprob(entry.token), top_logprobs: entry.top.map(toLogprob) };
}

const usageOf = (done: Extract<JobEvent, { type: 'done' }>): Usage => ({
  prompt_tokens: done.promptTokens,
  completion_tokens: done.completionTokens,
  total_tokens: done.promptTokens + done.completionTokens,
});

function startFailure(reason: StartFailure, model: string): ApiError {
  switch (reason) {
    case 'no_tab':
      return noCapacity(model);
    case 'busy':
      return tabsBusy(model);
    case 'too_large':
      return invalidRequest('The conversation is too large to send to a contributor tab.', 'messages', 'request_too_large');
    case 'aborted':
      return new ApiError(499 as ContentfulStatusCode, 'invalid_request_error', 'The client closed the connection.', 'client_closed_request');
  }
}

export function chatCompletionsHandler(deps: ChatCompletionsDeps) {
  const now = deps.now ?? Date.now;
  return async (c: Context) => {
    const created = Math.floor(now() / 1000); // when the request arrived, as OpenAI reports it
    const request = parseChatRequest(await c.req.text());
    const model = deps.catalogue.get(request.model);
    if (!model) throw modelNotFound(request.model);
    const params = planSampling(request, model.config.max_position_embeddings, deps.randomSeed);
    const signal = c.req.raw.signal;
    const started = await deps.board.start({ model: model.id, messages: toPlainMessages(request.messages), params }, { signal });
    if (!started.ok) throw startFailure(started.reason, model.id);
    const job = started.job;
    // One place notices a client that hangs up, streaming or not: the request's signal.
    const hangUp = () => job.cancel('the client closed the connection');
    if (signal.aborted) hangUp();
    else signal.addEventListener('abort', hangUp, { once: true });
    const events = job.events[Symbol.asyncIterator]();
    const first = await events.next();
    if (first.done) throw new ApiError(500, 'server_error', 'The job ended without a result.', 'internal_error');
    if (first.value.type === 'failed') throw fromTabFailure(first.value.code, first.value.message);

    c.header('x-dolphin-tab', job.tab.id);
    c.header('x-dolphin-backend', job.tab.backend ?? 'unknown');
    c.header('x-dolphin-transport', job.tab.transport);
    c.header('x-dolphin-seed', String(params.seed));
    const meta = { id: job.id, created, model: model.id, system_fingerprint: `dolphin-${model.manifest.files.find((f) => f.path.endsWith('.onnx'))?.sha256.slice(0, 12) ?? 'model'}` };
    const rest = (async function* () {
      yield first.value;
      for (let next = await events.next(); !next.done; next = await events.next()) yield next.value;
    })();
    const wantLogprobs = request.logprobs === true;
    return request.stream ? streamChunks(c, job, rest, meta, wantLogprobs, request.stream_options?.include_usage === true) : collect(c, rest, meta, wantLogprobs);
  };
}

type Meta = Pick<ChatCompletion, 'id' | 'created' | 'model' | 'system_fingerprint'>;

async function collect(c: Context, events: AsyncIterable<JobEvent>, meta: Meta, wantLogprobs: boolean) {
  let content = '';
  const logprobs: TokenLogprob[] = [];
  for await (const event of events) {
    if (event.type === 'tokens') {
      for (const entry of event.tokens) {
        content += entry.text;
        if (wantLogprobs) logprobs.push(tokenLogprob(entry));
      }
    } else if (event.type === 'failed') {
      throw fromTabFailure(event.code, event.message);
    } else {
      const body: ChatCompletion = {
        ...meta,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: content + event.text, refusal: null }, logprobs: wantLogprobs ? { content: logprobs, refusal: null } : null, finish_reason: event.finishReason }],
        usage: usageOf(event),
      };
      return c.json(body);
    }
  }
  throw new ApiError(500, 'server_error', 'The job ended without a result.', 'internal_error');
}

function streamChunks(c: Context, job: Job, events: AsyncIterable<JobEvent>, meta: Meta, wantLogprobs: boolean, includeUsage: boolean) {
  const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], extra: Partial<ChatCompletionChunk['choices'][0]> = {}): ChatCompletionChunk => ({
    ...meta,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: null, ...extra }],
    ...(includeUsage ? { usage: null } : {}),
  });
  return streamSSE(c, async (stream) => {
    const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
    const send = (data: unknown) => stream.write(sse(data));
    // Errors are caught here rather than left to streamSSE, whose handler appends a non-JSON `event: error`.
    try {
      await send(chunk({ role: 'assistant', content: '' }));
      for await (const event of events) {
        if (event.type === 'tokens') {
          // A batch of tokens goes out in one write: one chunk per token, as OpenAI streams them.
          const chunks = event.tokens
            .filter((entry) => entry.text || wantLogprobs)
            .map((entry) => sse(chunk({ content: entry.text }, wantLogprobs ? { logprobs: { content: [tokenLogprob(entry)], refusal: null } } : {})));
          if (chunks.length) await stream.write(chunks.join(''));
        } else if (event.type === 'failed') {
          await send(fromTabFailure(event.code, event.message).toBody());
          return;
        } else {
          await send(chunk(event.text ? { content: event.text } : {}, { finish_reason: event.finishReason }));
          if (includeUsage) await send({ ...meta, object: 'chat.completion.chunk', choices: [], usage: usageOf(event) });
          await stream.write('data: [DONE]\n\n');
          return;
        }
      }
    } catch (error) {
      job.cancel('the stream failed');
      if (!stream.aborted) await send(toApiError(error).toBody()).catch(() => {});
    }
  });
}
