/**
 * The batch API at /v1/batches (src/protocol/batches.ts): create, read, cancel. A batch belongs to the requester
 * whose key created it; the demo key cannot run batches.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createBatchSchema } from '../../src/protocol/batches.ts';
import type { BatchRunner } from '../batches/batch-runner.ts';
import type { AuthEnv } from './auth.ts';
import { ApiError, rateLimited } from './errors.ts';
import { parseJsonBody } from './json-body.ts';

/** A batch's requests together: up to 100 conversations. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

const noSuchBatch = (id: string) => new ApiError(404, 'invalid_request_error', `No batch '${id}' on this account.`, 'batch_not_found', 'batch_id');

export function batchRoutes(runner: BatchRunner): Hono<AuthEnv> {
  const routes = new Hono<AuthEnv>();
  routes.use('*', async (c, next) => {
    if (c.get('caller').demo) throw new ApiError(403, 'permission_error', 'The demo key cannot run batches; create an account for your own key.', 'demo_key');
    await next();
  });
  routes.post(
    '/',
    bodyLimit({
      maxSize: MAX_BATCH_BYTES,
      onError: (c) => c.json(new ApiError(413, 'invalid_request_error', `The batch exceeds ${MAX_BATCH_BYTES} bytes; split it.`, 'request_too_large').toBody(), 413),
    }),
    async (c) => {
    const request = parseJsonBody(await c.req.text(), createBatchSchema);
    const batch = runner.create({ requesterId: c.get('caller').requesterId, authorization: c.req.header('Authorization') ?? '' }, request);
    if (!batch) throw rateLimited('This account has as many unfinished batches as allowed; wait for one to finish.', 10_000, 'too_many_batches');
    return c.json(batch);
    },
  );
  routes.get('/:id', (c) => {
    const batch = runner.get(c.get('caller').requesterId, c.req.param('id'));
    if (!batch) throw noSuchBatch(c.req.param('id'));
    return c.json(batch);
  });
  routes.post('/:id/cancel', (c) => {
    const batch = runner.cancel(c.get('caller').requesterId, c.req.param('id'));
    if (!batch) throw noSuchBatch(c.req.param('id'));
    return c.json(batch);
  });
  return routes;
}
