/**
 * POST /v1/chat/completions, OpenAI-compatible, streaming (SSE) and not. The response starts only when the tab's
 * first event arrives, so failures before any token (no room in the context, tab lost) still get a proper HTTP
 * status; failures after that arrive as an OpenAI error object in a `data:` event.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { chatCompletionRequestSchema, toPlainMessages, type PlainMessage, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type TokenLogprob, type Usage } from '../../src/protocol/api.ts';
import type { TokenCandidate, TokenEntry } from '../../src/protocol/tab.ts';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Job, JobBoard, JobEvent, StartFailure } from '../jobs/job-board.ts';
import type { ModelCatalogue } from '../models/catalogue.ts';
import { ApiError, fromTabFailure, insufficientFunds, invalidRequest, modelNotFound, noCapacity, rateLimited, tabsBusy, toApiError } from './errors.ts';
import type { Billing } from '../ledger/billing.ts';
import type { AuthEnv } from './auth.ts';
import { randomUUID } from 'node:crypto';
import { planSampling } from './sampling-plan.ts';
import { parseJsonBody } from './json-body.ts';

export interface ChatCompletionsDeps {
  catalogue: ModelCatalogue;
  board: JobBoard;
  billing: Billing;
  /** The templated prompt's token count for the model (its tokenizer and chat template), or null when unknown. */
  countPromptTokens: (model: string, messages: PlainMessage[]) => number | null;
  randomSeed: () => number;
  now?: () => number;
}

export function parseChatRequest(text: string): ChatCompletionRequest {
  return parseJsonBody(text, chatCompletionRequestSchema);
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

function startFailure(reason: StartFailure, model: string, retryAfterMs = 5_000): ApiError {
  switch (reason) {
    case 'queue_full':
      return rateLimited(`The queue for '${model}' is full.`, retryAfterMs, 'queue_full', 'model');
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
  return async (c: Context<AuthEnv>) => {
    const created = Math.floor(now() / 1000); // when the request arrived, as OpenAI reports it
    const request = parseChatRequest(await c.req.text());
    const model = deps.catalogue.get(request.model);
    if (!model) throw modelNotFound(request.model);
    const contextLength = model.config.max_position_embeddings;
    const params = planSampling(request, contextLength, deps.randomSeed);
    const messages = toPlainMessages(request.messages);
    const promptTokens = deps.countPromptTokens(model.id, messages);
    if (promptTokens !== null && promptTokens >= contextLength)
      throw new ApiError(400, 'invalid_request_error', `The prompt is ${promptTokens} tokens, which leaves no room in the model's ${contextLength}-token context. Shorten the messages.`, 'context_length_exceeded', 'messages');
    // The most this can cost is held before any tab starts.
    const quote = deps.billing.quote(model.id, promptTokens, params.maxTokens, contextLength);
    const caller = c.get('caller');
    const jobId = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const held = await deps.billing.hold(jobId, caller.requesterId, model.id, quote, caller.demo);
    if (!held.ok) throw held.reason === 'insufficient_funds' ? insufficientFunds(held.message) : new ApiError(500, 'server_error', 'The coordinator could not hold the cost of this request.', 'internal_error');
    const signal = c.req.raw.signal;
    const started = await deps.board.start({ model: model.id, messages, params, contextLength, ...(promptTokens === null ? {} : { promptTokens }) }, { id: jobId, signal });
    if (!started.ok) {
      await deps.billing.jobEnded(jobId, { type: 'failed', reason: `not started: ${started.reason}` });
      throw startFailure(started.reason, model.id, started.retryAfterMs);
    }
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

async function collect(c: Context<AuthEnv>, events: AsyncIterable<JobEvent>, meta: Meta, wantLogprobs: boolean) {
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

function streamChunks(c: Context<AuthEnv>, job: Job, events: AsyncIterable<JobEvent>, meta: Meta, wantLogprobs: boolean, includeUsage: boolean) {
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
