/**
 * POST /v1/chat/completions, OpenAI-compatible, streaming (SSE) and not. The response starts only when the tab's
 * first event arrives, so failures before any token (no room in the context, tab lost) still get a proper HTTP
 * status; failures after that arrive as an OpenAI error object in a `data:` event.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { chatCompletionRequestSchema, toPlainMessages, type PlainMessage, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type FinishReason, type TokenLogprob, type Usage } from '../../src/protocol/api.ts';
import type { TokenCandidate, TokenEntry } from '../../src/protocol/tab.ts';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { JobBoard, JobEvent, StartFailure, StartResult } from '../jobs/job-board.ts';
import type { ModelCatalogue } from '../models/catalogue.ts';
import { ApiError, fromTabFailure, insufficientFunds, invalidRequest, modelNotFound, noCapacity, rateLimited, tabsBusy, toApiError } from './errors.ts';
import type { Billing } from '../ledger/billing.ts';
import type { AuthEnv } from './auth.ts';
import { randomUUID } from 'node:crypto';
import { choiceSeed, planSampling } from '../../src/protocol/sampling-plan.ts';
import { EventQueue } from '../jobs/event-queue.ts';
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
    const base = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const n = request.n ?? 1;
    // Each choice is its own job: its own escrow, tab and seed.
    const choices = Array.from({ length: n }, (_, index) => ({ index, jobId: index === 0 ? base : `${base}-${index}`, params: { ...params, seed: choiceSeed(params.seed, index) } }));
    const heldJobs: string[] = [];
    const release = (jobIds: string[], reason: string) => Promise.all(jobIds.map((jobId) => deps.billing.jobEnded(jobId, { type: 'failed', reason })));
    const signal = c.req.raw.signal;
    // One choice that cannot start stops the others still waiting for a tab.
    const starting = new AbortController();
    const stopStarting = () => starting.abort();
    signal.addEventListener('abort', stopStarting, { once: true });
    let results: StartResult[];
    try {
      for (const choice of choices) {
        const held = await deps.billing.hold(choice.jobId, caller.requesterId, model.id, quote, caller.demo);
        if (!held.ok) {
          await release(heldJobs, 'not started: another choice could not be paid for');
          throw held.reason === 'insufficient_funds' ? insufficientFunds(n === 1 ? held.message : `${held.message} (for each of the ${n} choices)`) : new ApiError(500, 'server_error', 'The coordinator could not hold the cost of this request.', 'internal_error');
        }
        heldJobs.push(choice.jobId);
      }
      results = await Promise.all(
        choices.map(async (choice) => {
          const result = await deps.board.start({ model: model.id, messages, params: choice.params, contextLength, ...(promptTokens === null ? {} : { promptTokens }) }, { id: choice.jobId, signal: starting.signal });
          if (!result.ok) starting.abort();
          return result;
        }),
      );
    } catch (error) {
      // Not expected (the store or the board failed): nothing may stay escrowed or running for this request.
      starting.abort();
      await release(heldJobs.filter((jobId) => !deps.board.running(jobId)), 'not started: the coordinator failed').catch(() => {});
      throw error;
    } finally {
      signal.removeEventListener('abort', stopStarting);
    }
    const jobs = results.flatMap((r) => (r.ok ? [r.job] : []));
    // Every job ends through the board once started (and is billed there); one that never started is released here.
    // Choices cancelled because another failed were not delivered: they are not billed.
    const cancelAll = (reason: string, billed = false) => jobs.forEach((job) => job.cancel(reason, { billed }));
    const failed = results.find((r) => !r.ok && r.reason !== 'aborted') ?? results.find((r) => !r.ok);
    if (failed && !failed.ok) {
      cancelAll('another choice of the request could not start');
      await release(choices.filter((_, i) => !results[i]?.ok).map((choice) => choice.jobId), `not started: ${failed.reason}`);
      throw startFailure(failed.reason, model.id, failed.retryAfterMs);
    }
    // One place notices a client that hangs up, streaming or not: the request's signal. It pays for what it was sent.
    const hangUp = () => cancelAll('the client closed the connection', true);
    if (signal.aborted) hangUp();
    else signal.addEventListener('abort', hangUp, { once: true });
    // The response starts once every choice has its first event, so a failure before any token keeps a real status;
    // the first choice to fail stops the others at once.
    const streams = jobs.map((job) => job.events[Symbol.asyncIterator]());
    const firsts = await Promise.all(
      streams.map(async (events) => {
        const first = await events.next();
        if (first.done || first.value.type === 'failed') cancelAll('another choice of the request failed');
        return first;
      }),
    );
    for (const first of firsts) {
      if (first.done) throw new ApiError(500, 'server_error', 'The job ended without a result.', 'internal_error');
      if (first.value.type === 'failed') throw fromTabFailure(first.value.code, first.value.message);
    }

    c.header('x-dolphin-tab', jobs.map((job) => job.tab.id).join(','));
    c.header('x-dolphin-backend', jobs.map((job) => job.tab.backend ?? 'unknown').join(','));
    // The identity that signs the result (the contributor paid for it, and whose audit record it joins).
    c.header('x-dolphin-contributor', jobs.map((job) => job.tab.contributorId ?? 'unknown').join(','));
    c.header('x-dolphin-transport', jobs.map((job) => job.tab.transport).join(','));
    c.header('x-dolphin-seed', String(params.seed));
    const meta = { id: base, created, model: model.id, system_fingerprint: `dolphin-${model.manifest.files.find((f) => f.path.endsWith('.onnx'))?.sha256.slice(0, 12) ?? 'model'}` };
    const events = mergeChoices(streams.map((rest, index) => ({ first: (firsts[index] as IteratorYieldResult<JobEvent>).value, rest })));
    const wantLogprobs = request.logprobs === true;
    return request.stream ? streamChunks(c, cancelAll, events, n, meta, wantLogprobs, request.stream_options?.include_usage === true) : collect(c, cancelAll, events, n, meta, wantLogprobs);
  };
}

/** The events of every choice as they come, each with its choice's index; ends when every choice has ended. */
function mergeChoices(choices: Array<{ first: JobEvent; rest: AsyncIterator<JobEvent> }>): AsyncIterable<ChoiceEvent> {
  const queue = new EventQueue<ChoiceEvent>();
  let open = choices.length;
  choices.forEach(async ({ first, rest }, index) => {
    queue.push({ index, event: first });
    for (let next = await rest.next(); !next.done; next = await rest.next()) queue.push({ index, event: next.value });
    if (--open === 0) queue.close();
  });
  return queue;
}

type ChoiceEvent = { index: number; event: JobEvent };

/** Usage of the whole request: every choice's prompt and completion (each choice is a job billed on its own). */
function addUsage(usages: Usage[]): Usage {
  const sum = (key: keyof Usage) => usages.reduce((total, usage) => total + usage[key], 0);
  return { prompt_tokens: sum('prompt_tokens'), completion_tokens: sum('completion_tokens'), total_tokens: sum('total_tokens') };
}

type Meta = Pick<ChatCompletion, 'id' | 'created' | 'model' | 'system_fingerprint'>;

async function collect(c: Context<AuthEnv>, cancelAll: (reason: string, billed?: boolean) => void, events: AsyncIterable<ChoiceEvent>, n: number, meta: Meta, wantLogprobs: boolean) {
  const choices = Array.from({ length: n }, () => ({ content: '', logprobs: [] as TokenLogprob[], finish: null as FinishReason | null, usage: null as Usage | null }));
  for await (const { index, event } of events) {
    const choice = choices[index] as (typeof choices)[number];
    if (event.type === 'tokens') {
      for (const entry of event.tokens) {
        choice.content += entry.text;
        if (wantLogprobs) choice.logprobs.push(tokenLogprob(entry));
      }
    } else if (event.type === 'failed') {
      cancelAll('another choice of the request failed');
      throw fromTabFailure(event.code, event.message);
    } else {
      choice.content += event.text;
      choice.finish = event.finishReason;
      choice.usage = usageOf(event);
    }
  }
  const usages = choices.flatMap((choice) => (choice.usage ? [choice.usage] : []));
  if (usages.length < n) throw new ApiError(500, 'server_error', 'The job ended without a result.', 'internal_error');
  const body: ChatCompletion = {
    ...meta,
    object: 'chat.completion',
    choices: choices.map((choice, index) => ({ index, message: { role: 'assistant', content: choice.content, refusal: null }, logprobs: wantLogprobs ? { content: choice.logprobs, refusal: null } : null, finish_reason: choice.finish as FinishReason })),
    usage: addUsage(usages),
  };
  return c.json(body);
}

function streamChunks(c: Context<AuthEnv>, cancelAll: (reason: string, billed?: boolean) => void, events: AsyncIterable<ChoiceEvent>, n: number, meta: Meta, wantLogprobs: boolean, includeUsage: boolean) {
  const chunk = (index: number, delta: ChatCompletionChunk['choices'][0]['delta'], extra: Partial<ChatCompletionChunk['choices'][0]> = {}): ChatCompletionChunk => ({
    ...meta,
    object: 'chat.completion.chunk',
    choices: [{ index, delta, logprobs: null, finish_reason: null, ...extra }],
    ...(includeUsage ? { usage: null } : {}),
  });
  return streamSSE(c, async (stream) => {
    const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
    const send = (data: unknown) => stream.write(sse(data));
    const usages: Usage[] = [];
    // Errors are caught here rather than left to streamSSE, whose handler appends a non-JSON `event: error`.
    try {
      await stream.write(Array.from({ length: n }, (_, index) => sse(chunk(index, { role: 'assistant', content: '' }))).join(''));
      for await (const { index, event } of events) {
        if (event.type === 'tokens') {
          // A batch of tokens goes out in one write: one chunk per token, as OpenAI streams them.
          const chunks = event.tokens
            .filter((entry) => entry.text || wantLogprobs)
            .map((entry) => sse(chunk(index, { content: entry.text }, wantLogprobs ? { logprobs: { content: [tokenLogprob(entry)], refusal: null } } : {})));
          if (chunks.length) await stream.write(chunks.join(''));
        } else if (event.type === 'failed') {
          // The other choices' tokens so far were sent: they are paid for, as on a hang-up.
          cancelAll('another choice of the request failed', true);
          await send(fromTabFailure(event.code, event.message).toBody());
          return;
        } else {
          usages.push(usageOf(event));
          await send(chunk(index, event.text ? { content: event.text } : {}, { finish_reason: event.finishReason }));
        }
      }
      if (usages.length < n) throw new ApiError(500, 'server_error', 'The job ended without a result.', 'internal_error');
      if (includeUsage) await send({ ...meta, object: 'chat.completion.chunk', choices: [], usage: addUsage(usages) });
      await stream.write('data: [DONE]\n\n');
    } catch (error) {
      cancelAll('the stream failed', true);
      if (!stream.aborted) await send(toApiError(error).toBody()).catch(() => {});
    }
  });
}
