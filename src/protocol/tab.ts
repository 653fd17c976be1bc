/**
 * The coordinator <-> contributor-tab wire. Every message is one JSON object with a `type`; both ends validate
 * what they receive with these schemas and drop (and log) anything else. The transport under it is a `Link`
 * (WebSocket today; a WebRTC data channel later) and does not matter here.
 */
import { z } from 'zod';
import { ACCOUNT_ID_PATTERN } from './account-id.ts';
import { API_LIMITS, chatRoleSchema } from './api.ts';
import { parseJsonMessage } from './parse-json-message.ts';
import { base64UrlLength, ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES } from './identity.ts';

/**
 * 3: audits, and the result transcript v2 (with the alternatives' ids and logprobs). 4: failover (`task.prefix`),
 * transcript v3. 5: tasks queue in the tab and may name a model it loads on demand (`loading`).
 */
export const TAB_PROTOCOL_VERSION = 5;
/** Largest message either side accepts, in characters of JSON. A task carries the whole conversation. */
export const MAX_TAB_MESSAGE_CHARS = 1_000_000;

const id = z.string().min(1).max(128);
const peerIdSchema = z.string().regex(/^[A-Za-z0-9]+$/).max(64);
const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/);
const base64Url = (bytes: number) => z.string().length(base64UrlLength(bytes)).regex(/^[A-Za-z0-9_-]+$/);
const signatureSchema = base64Url(ED25519_SIGNATURE_BYTES);

/** The tab's public key and its signature over the session's challenge (see identity.ts). */
export const identityProofSchema = z.object({ publicKey: base64Url(ED25519_PUBLIC_KEY_BYTES), signature: signatureSchema });
export type IdentityProof = z.infer<typeof identityProofSchema>;
export const backendSchema = z.enum(['webgpu', 'wasm']);
export type Backend = z.infer<typeof backendSchema>;

export const adapterInfoSchema = z.object({
  vendor: z.string().max(200),
  architecture: z.string().max(200),
  device: z.string().max(200),
  description: z.string().max(500),
  isFallbackAdapter: z.boolean(),
});
export type AdapterInfo = z.infer<typeof adapterInfoSchema>;

export const adapterLimitsSchema = z.object({
  maxBufferSize: z.number().nonnegative(),
  maxStorageBufferBindingSize: z.number().nonnegative(),
});
export type AdapterLimits = z.infer<typeof adapterLimitsSchema>;

const topLogprobSchema = z.object({ id: z.number().int().nonnegative(), token: z.string(), bytes: z.array(z.number().int()), logprob: z.number() });
export type TokenCandidate = z.infer<typeof topLogprobSchema>;

export const tokenEntrySchema = z.object({
  /** 0-based position in the completion; must arrive in order. */
  index: z.number().int().nonnegative(),
  token: topLogprobSchema,
  /** Text to append to the visible completion (may be empty while a possible stop sequence is held back). */
  text: z.string(),
  top: z.array(topLogprobSchema).max(20),
});
export type TokenEntry = z.infer<typeof tokenEntrySchema>;

/** A tab loading a model for a job reports its progress at most this often (`loading`). */
export const LOADING_REPORT_MS = 1000;
/** A tab sends the tokens made within this many milliseconds of the last send together. */
export const TOKEN_BATCH_MS = 50;
export const MAX_TOKENS_PER_MESSAGE = 256;
/** Padding a `ping` may carry (to measure throughput), in characters: fits one data-channel message. */
export const MAX_PING_PAD_CHARS = 60_000;

export const samplingParamsSchema = z.object({
  maxTokens: z.number().int().min(1),
  temperature: z.number().min(0),
  topP: z.number().gt(0).max(1),
  topK: z.number().int().min(0),
  stop: z.array(z.string().min(1).max(API_LIMITS.maxStopChars)).max(4),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** How many alternatives to report per token (0 = none). Logprobs of emitted tokens are always sent. */
  topLogprobs: z.number().int().min(0).max(20),
});
export type SamplingParams = z.infer<typeof samplingParamsSchema>;

/** Why a tab could not finish a task. A tab cannot claim any other code (such as the coordinator's own). */
export const TASK_FAILURE_CODES = ['cancelled', 'context_length_exceeded', 'model_not_loaded', 'worker_error'] as const;
export type TaskFailureCode = (typeof TASK_FAILURE_CODES)[number];

export const chatMessageSchema = z.object({ role: chatRoleSchema, content: z.string() });

/** How far a verifier lets a claimed completion deviate from its own recomputation (worker/verify/judge.ts). */
export const tolerancesSchema = z.object({ epsilon: z.number().min(0).max(1), delta: z.number().min(0), tau: z.number().min(0) });
export type Tolerances = z.infer<typeof tolerancesSchema>;

export const VERDICT_FAILURE_REASONS = ['outside_interval', 'not_greedy', 'logprob_mismatch', 'unknown_token', 'top_mismatch', 'false_stop', 'false_length', 'length_mismatch', 'prompt_mismatch'] as const;
/** A re-scoring verdict and its evidence: the first failing position and the largest deviations seen. */
export const verdictSchema = z.object({
  ok: z.boolean(),
  firstFailure: z.object({ position: z.number().int().nonnegative(), reason: z.enum(VERDICT_FAILURE_REASONS) }).nullable(),
  maxIntervalDistance: z.number().nonnegative(),
  maxLogitGap: z.number().nonnegative(),
  maxLogprobDeviation: z.number().nonnegative(),
});
export type Verdict = z.infer<typeof verdictSchema>;

/** Why a verifier could not judge an audit (no verdict either way). */
export const AUDIT_FAILURE_REASONS = ['transcript_missing', 'transcript_mismatch', 'model_not_loaded', 'worker_error'] as const;

const iceServerSchema = z.object({
  urls: z.union([z.string().max(500), z.array(z.string().max(500)).max(8)]),
  username: z.string().max(500).optional(),
  credential: z.string().max(500).optional(),
});
export const webRtcInvitationSchema = z.object({
  peerId: z.string().regex(/^[A-Za-z0-9]+$/).max(64),
  /** The token to register `peerId` with: the signalling server takes only ids it reserved for an invitation. */
  token: z.string().min(16).max(128),
  coordinatorPeerId: z.string().regex(/^[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*$/).max(64),
  /** PeerJS signalling on the coordinator's origin. */
  path: z.string().max(100),
  key: z.string().max(128),
  iceServers: z.array(iceServerSchema).max(16),
});
export type WebRtcInvitation = z.infer<typeof webRtcInvitationSchema>;

/**
 * What the contributor allows its tab: `paused` (no new job; one running ends normally), the models it may serve
 * (null: those it loaded; a list: those, loaded on demand when a task needs one), and the share of time it may
 * compute (1: all; 0.25: after a job of t seconds it rests 3t).
 */
export const contributorLimitsSchema = z.object({
  paused: z.boolean(),
  models: z.array(id).max(64).nullable(),
  share: z.number().gt(0).max(1),
});
export type ContributorLimits = z.infer<typeof contributorLimitsSchema>;
export const NO_LIMITS: ContributorLimits = Object.freeze({ paused: false, models: null, share: 1 });

export const tabToCoordinatorSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    protocol: z.literal(TAB_PROTOCOL_VERSION),
    backend: backendSchema,
    adapter: adapterInfoSchema.nullable(),
    limits: adapterLimitsSchema.nullable(),
    models: z.array(id).max(64),
    identity: identityProofSchema,
    /**
     * The requester account the rewards of the jobs this tab serves go to as they mature (a widget visitor lending
     * their GPU under the site's account); absent: the identity's own available balance.
     */
    payoutAccount: z.string().regex(ACCOUNT_ID_PATTERN).optional(),
  }),
  /** The set of models this tab can serve right now (loaded and warm). */
  z.object({ type: z.literal('models'), models: z.array(id).max(64) }),
  /**
   * What the tab knows of itself, sent after `accepted` and on every change: whether its page is hidden (browsers
   * throttle hidden tabs), the models whose weights are in its Cache API (a load, no download), and its decode
   * speed per model measured by a short calibration run when the model was loaded.
   */
  z.object({
    type: z.literal('status'),
    hidden: z.boolean(),
    cached: z.array(id).max(64).optional(),
    calibration: z
      .record(id, z.number().positive().max(1e6))
      .refine((speeds) => Object.keys(speeds).length <= 64, 'at most 64 models')
      .optional(),
    limits: contributorLimitsSchema.optional(),
  }),
  /**
   * One or more consecutive tokens of a job. The first token of a job is sent on its own, at once; later ones may
   * be batched (see `TOKEN_BATCH_MS`), which keeps per-token messages and wake-ups off every hop of the relay.
   */
  z.object({ type: z.literal('tokens'), jobId: id, tokens: z.array(tokenEntrySchema).min(1).max(MAX_TOKENS_PER_MESSAGE) }),
  z.object({
    type: z.literal('done'),
    jobId: id,
    finishReason: z.enum(['stop', 'length']),
    /** Text still held back at the end (never contains the stop sequence). */
    text: z.string(),
    promptTokens: z.number().int().nonnegative(),
    completionTokens: z.number().int().nonnegative(),
    /** Over the job's transcript (identity.ts): the task, every streamed token's id and logprob, and this ending. */
    signature: signatureSchema,
  }),
  z.object({ type: z.literal('failed'), jobId: id, code: z.enum(TASK_FAILURE_CODES), message: z.string().max(2000) }),
  /**
   * The tab is loading `model` for job `jobId` before running it (the model was not in its engine): download
   * progress, at most every `LOADING_REPORT_MS`. It keeps the job (and those queued behind it) from timing out.
   */
  z.object({ type: z.literal('loading'), jobId: id, model: id, loadedBytes: z.number().nonnegative(), totalBytes: z.number().nonnegative() }),
  /** Answered with `pong` on the link it came on: round trips and throughput of each link (`npm run bench`). */
  z.object({ type: z.literal('ping'), nonce: z.string().min(1).max(64), pad: z.string().max(MAX_PING_PAD_CHARS).optional() }),
  /** The tab's PeerJS peer is registered (`listening`) or cannot be (`unavailable`, e.g. no WebRTC in this browser). */
  z.object({ type: z.literal('webrtc'), state: z.enum(['listening', 'unavailable']), reason: z.string().max(500).optional() }),
  /**
   * A verifier's answer to `audit`: its verdict on the transcript whose SHA-256 is `transcriptSha256`, signed with
   * its identity key over VERDICT_CONTEXT + SHA-256(verdictStatementOf(...)) (identity.ts).
   */
  z.object({ type: z.literal('verdict'), auditId: id, transcriptSha256: sha256HexSchema, verdict: verdictSchema, signature: signatureSchema }),
  /** A verifier could not judge the audit: no verdict either way. */
  z.object({ type: z.literal('audit-failed'), auditId: id, reason: z.enum(AUDIT_FAILURE_REASONS), message: z.string().max(2000) }),
  /** The tab could not deliver the transcript `share` asked for. */
  z.object({ type: z.literal('share-failed'), auditId: id, message: z.string().max(2000) }),
]);
export type TabToCoordinator = z.infer<typeof tabToCoordinatorSchema>;

export const coordinatorToTabSchema = z.discriminatedUnion('type', [
  /** The first message of a session: the tab answers with `hello`, signing `challenge`. */
  z.object({ type: z.literal('welcome'), tabId: id, challenge: z.string().min(16).max(128) }),
  /**
   * The tab's `hello` proved its identity: it is now in the pool and may get tasks. With `webrtc`, the tab should
   * register with the coordinator's PeerJS signalling as `peerId`, say `webrtc listening`, and take the data
   * connection the coordinator (`coordinatorPeerId`) opens; until it opens, and whenever it drops, the WebSocket
   * carries everything.
   */
  z.object({ type: z.literal('accepted'), contributorId: z.string().regex(/^[0-9a-f]{40}$/), webrtc: webRtcInvitationSchema.nullable() }),
  /**
   * A job to run, after those the tab already has (it runs them one at a time, in the order they came). Its model
   * is one the tab serves: loaded, or listed in its limits to load on demand. With `prefix` it continues a job another tab left mid-stream (failover): those are the tokens it
   * streamed, taken as given; this tab's tokens start at index `prefix.length` and draw u_t for the same steps, so
   * the continuation is what the first tab would have produced. The result signature covers the task as sent.
   */
  z.object({ type: z.literal('task'), jobId: id, model: id, messages: z.array(chatMessageSchema).min(1), params: samplingParamsSchema, prefix: z.array(z.number().int().nonnegative()).max(1 << 16).optional() }),
  z.object({ type: z.literal('cancel'), jobId: id }),
  /**
   * The data channel a job's messages travelled on closed: the coordinator has its tokens before index `from`; the
   * tab sends the rest (and how the job ended, if it did) on the WebSocket. A tab holds a job's messages from the
   * moment its channel closes until this arrives, so nothing is lost or sent twice. (A job that had streamed
   * nothing gets its `task` again instead; a tab already running it treats that as `resume` from 0.)
   */
  z.object({ type: z.literal('resume'), jobId: id, from: z.number().int().nonnegative() }),
  z.object({ type: z.literal('pong'), nonce: z.string().min(1).max(64) }),
  /** Mesh: accept a data connection from this tab's peer (`mesh-expect`), or open one to it (`mesh-dial`). */
  z.object({ type: z.literal('mesh-expect'), peerId: peerIdSchema }),
  z.object({ type: z.literal('mesh-dial'), peerId: peerIdSchema }),
  /**
   * Audit (issue #4): re-score the transcript of a finished job and answer with `verdict` (or `audit-failed`). The
   * transcript (src/protocol/mesh.ts `auditTranscriptSchema`, JSON) arrives over the mesh from peer `from` — accept
   * that peer's connection — or inline in `transcript`; either way its canonical transcript (identity.ts
   * `transcriptOf`) must hash to `transcriptSha256`, the hash the job's worker signed. A second `audit` with the
   * same id and an inline transcript replaces a mesh delivery that failed.
   */
  z.object({
    type: z.literal('audit'),
    auditId: id,
    model: id,
    transcriptSha256: sha256HexSchema,
    tolerances: tolerancesSchema,
    /** How long the coordinator waits for the verdict, from now; a verifier that cannot answer in time gives up. */
    timeoutMs: z.number().int().min(1000).max(3_600_000),
    from: peerIdSchema.optional(),
    transcript: z.string().optional(),
  }),
  /**
   * Send a transcript to the verifier at peer `to` over the mesh, for audit `auditId`: this tab's own record of
   * job `jobId`, or `transcript` when given (the tab then only carries it).
   */
  z.object({ type: z.literal('share'), auditId: id, jobId: id, to: peerIdSchema, transcript: z.string().optional() }),
  /** The coordinator rejected something the tab sent; informational. */
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type CoordinatorToTab = z.infer<typeof coordinatorToTabSchema>;
export type TaskMessage = Extract<CoordinatorToTab, { type: 'task' }>;

export type { ParseResult } from './parse-json-message.ts';
export const parseTabMessage = (raw: unknown) => parseJsonMessage(tabToCoordinatorSchema, raw, MAX_TAB_MESSAGE_CHARS);
export const parseCoordinatorMessage = (raw: unknown) => parseJsonMessage(coordinatorToTabSchema, raw, MAX_TAB_MESSAGE_CHARS);
