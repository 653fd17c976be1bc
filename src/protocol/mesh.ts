/**
 * The tab <-> tab wire (PeerJS data connections between contributor tabs, 'raw' serialization). Control messages
 * are JSON text; payload chunks are binary frames. A payload moves as one transfer:
 *   sender: `transfer-start {transferId, bytes, sha256}`, then binary chunks in order, then `transfer-end`
 *   receiver: `transfer-result {transferId, ok, error?}` once it has checked the size and the SHA-256.
 * Every frame is validated on receipt; anything malformed, oversized or out of order fails that transfer (with a
 * `transfer-result` saying why) and never the tab.
 */
import { z } from 'zod';
import { parseJsonMessage } from './parse-json-message.ts';
import { chatMessageSchema, samplingParamsSchema } from './tab.ts';
import type { TranscriptEnd, TranscriptTask, TranscriptToken } from './identity.ts';

/** Payload bytes per binary frame: with its header, under the 64 KiB every browser takes in one SCTP message (measured: 16 KiB frames moved 1.1 MB/s tab to tab, 64 KiB ones 3.3 MB/s). */
export const MESH_CHUNK_BYTES = 60 * 1024;
/** Largest payload one transfer may carry. */
export const MAX_TRANSFER_BYTES = 16 * 1024 * 1024;
export const MAX_MESH_CONTROL_CHARS = 4096;
/** Transfers one connection may have open at once (in either direction). */
export const MAX_OPEN_TRANSFERS = 4;
/** Binary frame header: transfer number (uint32) and chunk index (uint32), big-endian. */
export const CHUNK_HEADER_BYTES = 8;

const transferId = z.number().int().min(0).max(0xffffffff);

export const meshControlSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('transfer-start'), transferId, bytes: z.number().int().min(0).max(MAX_TRANSFER_BYTES), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  z.object({ type: z.literal('transfer-end'), transferId }),
  z.object({ type: z.literal('transfer-result'), transferId, ok: z.boolean(), error: z.string().max(500).optional() }),
  /** Answered with `pong`: the round trip between two tabs. */
  z.object({ type: z.literal('ping'), nonce: z.number().int().nonnegative() }),
  z.object({ type: z.literal('pong'), nonce: z.number().int().nonnegative() }),
]);
export type MeshControl = z.infer<typeof meshControlSchema>;

export type MeshFrame = { kind: 'control'; message: MeshControl } | { kind: 'chunk'; transferId: number; index: number; data: Uint8Array };

/** Parses one frame from a tab; an error says what was wrong. */
export function parseMeshFrame(raw: unknown): { ok: true; frame: MeshFrame } | { ok: false; error: string } {
  if (typeof raw === 'string') {
    const parsed = parseJsonMessage(meshControlSchema, raw, MAX_MESH_CONTROL_CHARS);
    return parsed.ok ? { ok: true, frame: { kind: 'control', message: parsed.message } } : parsed;
  }
  const bytes = raw instanceof ArrayBuffer ? new Uint8Array(raw) : ArrayBuffer.isView(raw) ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  if (!bytes) return { ok: false, error: 'expected a text or binary frame' };
  if (bytes.length < CHUNK_HEADER_BYTES || bytes.length > CHUNK_HEADER_BYTES + MESH_CHUNK_BYTES) return { ok: false, error: `a chunk frame must carry 0..${MESH_CHUNK_BYTES} bytes after its header` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, CHUNK_HEADER_BYTES);
  return { ok: true, frame: { kind: 'chunk', transferId: view.getUint32(0), index: view.getUint32(4), data: bytes.subarray(CHUNK_HEADER_BYTES) } };
}

export function chunkFrame(transferNumber: number, index: number, data: Uint8Array): Uint8Array {
  const frame = new Uint8Array(CHUNK_HEADER_BYTES + data.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, transferNumber);
  view.setUint32(4, index);
  frame.set(data, CHUNK_HEADER_BYTES);
  return frame;
}

/**
 * The payload of an audit transfer: a finished job's transcript, as its worker streamed and signed it
 * (identity.ts `transcriptOf` gives the canonical form whose SHA-256 the verifier checks). Tokens are
 * [id, logprob, [[alternative id, logprob]...]].
 */
export const auditTranscriptSchema = z.object({
  type: z.literal('audit-transcript'),
  auditId: z.string().min(1).max(128),
  task: z.object({ jobId: z.string().min(1).max(128), model: z.string().min(1).max(128), messages: z.array(chatMessageSchema).min(1), params: samplingParamsSchema, prefix: z.array(z.number().int().nonnegative()).max(1 << 16).optional() }),
  tokens: z.array(z.tuple([z.number().int().nonnegative(), z.number(), z.array(z.tuple([z.number().int().nonnegative(), z.number()])).max(20)])).max(1 << 16),
  end: z.object({ finishReason: z.enum(['stop', 'length']), promptTokens: z.number().int().nonnegative(), completionTokens: z.number().int().nonnegative() }),
});
export type AuditTranscript = z.infer<typeof auditTranscriptSchema>;

export function auditTranscriptOf(auditId: string, task: TranscriptTask, tokens: ReadonlyArray<TranscriptToken>, end: TranscriptEnd): AuditTranscript {
  const { jobId, model, messages, params, prefix } = task;
  return { type: 'audit-transcript', auditId, task: { jobId, model, messages, params, ...(prefix ? { prefix: [...prefix] } : {}) }, tokens: tokens.map((t) => [t.id, t.logprob, (t.top ?? []).map((a) => [a.id, a.logprob])]), end: { finishReason: end.finishReason, promptTokens: end.promptTokens, completionTokens: end.completionTokens } };
}

/** The tokens of an audit transcript as the transcript and the verifier take them. */
export const transcriptTokensOf = (claim: AuditTranscript): Array<{ id: number; logprob: number; top: Array<{ id: number; logprob: number }> }> => claim.tokens.map(([id, logprob, top]) => ({ id, logprob, top: top.map(([a, lp]) => ({ id: a, logprob: lp })) }));

/** Parses an audit transcript from JSON text (a mesh payload, or the inline copy in `audit`). */
export const parseAuditTranscript = (text: string) => parseJsonMessage(auditTranscriptSchema, text, MAX_TRANSFER_BYTES);
