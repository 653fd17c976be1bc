/**
 * The PeerJS signalling wire (the protocol of peerjs-server, which the stock `peerjs` 1.5 client speaks), served
 * by the coordinator at /peerjs. Peers register with `?key&id&token` on a WebSocket and relay WebRTC offers,
 * answers and ICE candidates to each other through it; the server stamps `src`, so a peer cannot speak for another.
 */
import { z } from 'zod';
import { parseJsonMessage } from './parse-json-message.ts';

/** The largest signalling message accepted, in characters of JSON. An SDP offer is a few kilobytes. */
export const MAX_SIGNALLING_MESSAGE_CHARS = 64 * 1024;

/** Ids as the peerjs client itself validates them (`util.validateId`), bounded in length. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$/;
export const peerIdSchema = z.string().max(128).regex(PEER_ID_PATTERN);
export const peerTokenSchema = z.string().min(1).max(128);

/** Message types relayed from one peer to another. */
export const RELAYED_TYPES = ['OFFER', 'ANSWER', 'CANDIDATE', 'LEAVE', 'EXPIRE'] as const;
export type RelayedType = (typeof RELAYED_TYPES)[number];

/**
 * What a peer sends. Offers, answers and candidates must have the payload the peerjs client reads (an SDP or a
 * candidate, the connection id, for data connections a known serialization): the stock client trusts relayed
 * payloads and throws on a malformed one, so the server does not relay those. Other payload fields pass through.
 */
const SERIALIZATIONS = ['raw', 'json', 'binary', 'binary-utf8', 'default'] as const;
const connectionId = z.string().min(1).max(128);
const connectionType = z.enum(['data', 'media']);
const sdp = (type: 'offer' | 'answer') => z.looseObject({ type: z.literal(type), sdp: z.string().max(MAX_SIGNALLING_MESSAGE_CHARS) });
const dst = peerIdSchema;

export const peerToServerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('HEARTBEAT') }),
  z.object({
    type: z.literal('OFFER'),
    dst,
    payload: z.union([
      z.looseObject({ type: z.literal('data'), connectionId, sdp: sdp('offer'), serialization: z.enum(SERIALIZATIONS), label: z.string().max(256).optional(), reliable: z.boolean().optional() }),
      z.looseObject({ type: z.literal('media'), connectionId, sdp: sdp('offer') }),
    ]),
  }),
  z.object({ type: z.literal('ANSWER'), dst, payload: z.looseObject({ type: connectionType, connectionId, sdp: sdp('answer') }) }),
  z.object({
    type: z.literal('CANDIDATE'),
    dst,
    payload: z.looseObject({
      type: connectionType,
      connectionId,
      candidate: z.looseObject({ candidate: z.string().max(1024), sdpMid: z.string().max(64).nullish(), sdpMLineIndex: z.number().int().nonnegative().nullish() }),
    }),
  }),
  z.object({ type: z.enum(['LEAVE', 'EXPIRE']), dst: dst.optional(), payload: z.record(z.string(), z.unknown()).optional() }),
]);
export type PeerToServer = z.infer<typeof peerToServerSchema>;
export type RelayedMessage = Extract<PeerToServer, { type: RelayedType }>;

/** What the server sends: control messages, and relayed messages with `src` set by the server. */
export type ServerToPeer =
  | { type: 'OPEN' }
  | { type: 'ERROR'; payload: { msg: string } }
  | { type: 'ID-TAKEN'; payload: { msg: string } }
  | { type: RelayedType; src: string; dst?: string; payload?: Record<string, unknown> };

export const parsePeerMessage = (raw: unknown) => parseJsonMessage(peerToServerSchema, raw, MAX_SIGNALLING_MESSAGE_CHARS);

/** The query of the signalling WebSocket (`/peerjs/peerjs?key=&id=&token=&version=`). */
export const registrationSchema = z.object({ key: z.string().min(1).max(128), id: peerIdSchema, token: peerTokenSchema });
export type Registration = z.infer<typeof registrationSchema>;
