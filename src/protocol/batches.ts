/**
 * The batch API (`/v1/batches`, issue #6): many chat completions in one request, run across the network's tabs and
 * returned in order, with each item's status (queue position and estimated start while it waits) to poll.
 * Modelled on OpenAI's batch object, but the requests travel inline rather than as an uploaded file.
 */
import { z } from 'zod';
import type { ChatCompletion, ErrorBody } from './api.ts';

export const BATCH_LIMITS = { maxRequests: 100, maxOpenBatchesPerRequester: 10 } as const;

/** Each request is a chat completion body (not streamed), checked like one when its turn comes. */
export const createBatchSchema = z.object({
  requests: z.array(z.record(z.string(), z.unknown())).min(1, 'requests must contain at least one request').max(BATCH_LIMITS.maxRequests),
  /** Kept with the batch and shown with it. */
  metadata: z.record(z.string(), z.string().max(512)).refine((m) => Object.keys(m).length <= 16, 'at most 16 metadata keys').optional(),
});
export type CreateBatch = z.infer<typeof createBatchSchema>;

export type BatchStatus = 'in_progress' | 'completed' | 'cancelled';
export type BatchItemStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface BatchItemView {
  index: number;
  status: BatchItemStatus;
  /** While queued: how many requests of its model wait ahead of it on this coordinator, and when it should start. */
  queue_position: number | null;
  estimated_start_at: number | null;
  /** The completion, once completed. */
  response: ChatCompletion | null;
  /** Why it failed, in the API's error shape. */
  error: ErrorBody['error'] | null;
}

export interface BatchView {
  id: string;
  object: 'batch';
  status: BatchStatus;
  /** Unix seconds, as OpenAI's batch object. */
  created_at: number;
  completed_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
  /** Every request's item, in the order the requests were given. */
  results: BatchItemView[];
}
