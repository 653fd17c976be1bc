/**
 * Every error the API returns is an `ApiError`, mapped once (in app.onError and in the SSE writer) to OpenAI's
 * envelope `{"error":{"message","type","param","code"}}` with the matching HTTP status.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ErrorBody, ErrorType } from '../../src/protocol/api.ts';

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: ErrorType,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, 'invalid_request_error', message, code, param);

export const modelNotFound = (model: string) =>
  new ApiError(404, 'invalid_request_error', `The model '${model}' does not exist on this network.`, 'model_not_found', 'model');

export const noCapacity = (model: string) =>
  new ApiError(503, 'service_unavailable_error', `No contributor tab is serving '${model}' right now. Open a contributor tab with this model, or try again shortly.`, 'no_capacity', 'model');

export const tabsBusy = (model: string) =>
  new ApiError(503, 'service_unavailable_error', `Every contributor tab serving '${model}' is busy. Try again shortly.`, 'tabs_busy', 'model');

/** 429 with the seconds to wait; the app adds them as Retry-After. */
export class RateLimitedError extends ApiError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    code = 'rate_limit_exceeded',
    param: string | null = null,
  ) {
    super(429, 'rate_limit_error', `${message} Try again in ${retryAfterSeconds} s.`, code, param);
  }
}

export const rateLimited = (message: string, retryAfterMs: number, code?: string, param?: string) => new RateLimitedError(message, Math.max(1, Math.ceil(retryAfterMs / 1000)), code, param ?? null);

export const insufficientFunds = (message: string) => new ApiError(402, 'insufficient_quota', message, 'insufficient_balance');

export const notFound = (method: string, path: string) => new ApiError(404, 'invalid_request_error', `Unknown request URL: ${method} ${path}.`, 'unknown_url');

/** Errors a tab reports for a job, by code, as the API presents them. */
export function fromTabFailure(code: string, message: string): ApiError {
  switch (code) {
    case 'context_length_exceeded':
      return new ApiError(400, 'invalid_request_error', message, code, 'messages');
    case 'client_closed_request':
      return new ApiError(499 as ContentfulStatusCode, 'invalid_request_error', message, code);
    default:
      return new ApiError(503, 'service_unavailable_error', `The contributor serving this request failed: ${message}`, code);
  }
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(500, 'server_error', 'The coordinator hit an internal error.', 'internal_error');
}
