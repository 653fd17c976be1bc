/**
 * Payload transfers over one tab <-> tab data connection (src/protocol/mesh.ts), independent of PeerJS: the
 * channel is passed in. Sending chunks a payload and waits whenever the channel's send buffer is above
 * HIGH_WATER_BYTES, so a large payload never piles up in memory or overruns the channel; receiving checks every
 * frame, the size and the SHA-256 before it hands the payload over.
 */
import { chunkFrame, MAX_OPEN_TRANSFERS, MAX_TRANSFER_BYTES, MESH_CHUNK_BYTES, parseMeshFrame, type MeshControl } from '../protocol/mesh.ts';
import { toHex } from '../protocol/identity.ts';

/** Send-buffer level above which the sender waits for the channel to drain. */
export const HIGH_WATER_BYTES = 1024 * 1024;
/** How long a sender waits for the receiver's verdict after the last chunk. */
const RESULT_TIMEOUT_MS = 30_000;

export interface MeshChannel {
  send(data: string | Uint8Array): void;
  readonly open: boolean;
  readonly bufferedAmount: number;
  /** Resolves once the send buffer is low again (or the channel closed). */
  drained(): Promise<void>;
}

export interface MeshEndpointEvents {
  onPayload(payload: Uint8Array): void;
  onLog(message: string): void;
}

interface Incoming {
  bytes: number;
  sha256: string;
  chunks: Uint8Array[];
  received: number;
  nextIndex: number;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
}

export class MeshEndpoint {
  private nextTransfer = 0;
  private readonly outgoing = new Map<number, { settle: (error: Error | null) => void }>();
  private readonly incoming = new Map<number, Incoming>();
  /** Transfers this side refused: their remaining frames are dropped quietly. */
  private readonly refused = new Set<number>();
  private readonly pongs = new Map<number, () => void>();
  private pingCount = 0;

  constructor(
    private readonly channel: MeshChannel,
    private readonly events: MeshEndpointEvents,
  ) {}

  /** Sends `payload`; resolves when the receiver confirmed it intact, rejects when it did not. */
  async send(payload: Uint8Array): Promise<void> {
    if (payload.length > MAX_TRANSFER_BYTES) throw new Error(`a transfer carries at most ${MAX_TRANSFER_BYTES} bytes`);
    if (this.outgoing.size >= MAX_OPEN_TRANSFERS) throw new Error('too many transfers in flight on this connection');
    const transferId = this.nextTransfer++;
    const verdict = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error('the receiver did not confirm the transfer')), RESULT_TIMEOUT_MS);
      const settle = (error: Error | null) => {
        clearTimeout(timer);
        this.outgoing.delete(transferId);
        if (error) reject(error);
        else resolve();
      };
      this.outgoing.set(transferId, { settle });
    });
    verdict.catch(() => {}); // awaited below; avoid an unhandled rejection while chunks are still going out
    this.control({ type: 'transfer-start', transferId, bytes: payload.length, sha256: await sha256Hex(payload) });
    for (let offset = 0, index = 0; offset < payload.length; offset += MESH_CHUNK_BYTES, index++) {
      if (this.channel.bufferedAmount > HIGH_WATER_BYTES) await this.channel.drained();
      if (!this.channel.open) {
        this.outgoing.get(transferId)?.settle(new Error('the connection closed during the transfer'));
        break;
      }
      this.channel.send(chunkFrame(transferId, index, payload.subarray(offset, offset + MESH_CHUNK_BYTES)));
    }
    if (this.channel.open) this.control({ type: 'transfer-end', transferId });
    return verdict;
  }

  /** One frame from the other tab. */
  receive(raw: unknown): void {
    const parsed = parseMeshFrame(raw);
    if (!parsed.ok) return this.events.onLog(`mesh: dropped a frame: ${parsed.error}`);
    const frame = parsed.frame;
    if (frame.kind === 'chunk') return this.onChunk(frame.transferId, frame.index, frame.data);
    const message = frame.message;
    switch (message.type) {
      case 'transfer-start':
        if (this.incoming.has(message.transferId)) return this.fail(message.transferId, 'transfer id already in use');
        if (this.incoming.size >= MAX_OPEN_TRANSFERS) return this.fail(message.transferId, 'too many transfers in flight on this connection');
        this.incoming.set(message.transferId, { bytes: message.bytes, sha256: message.sha256, chunks: [], received: 0, nextIndex: 0 });
        return;
      case 'transfer-end':
        return void this.onEnd(message.transferId);
      case 'ping':
        return this.control({ type: 'pong', nonce: message.nonce });
      case 'pong':
        this.pongs.get(message.nonce)?.();
        this.pongs.delete(message.nonce);
        return;
      case 'transfer-result':
        this.outgoing.get(message.transferId)?.settle(message.ok ? null : new Error(`the receiver refused the transfer: ${message.error ?? 'no reason'}`));
        return;
    }
  }

  /** Round trip to the other tab, in ms. */
  async ping(): Promise<number> {
    const nonce = this.pingCount++;
    const started = performance.now();
    const answered = new Promise<void>((resolve) => this.pongs.set(nonce, resolve));
    this.control({ type: 'ping', nonce });
    await answered;
    return performance.now() - started;
  }

  /** The connection closed: transfers in flight fail. */
  closed(): void {
    for (const { settle } of [...this.outgoing.values()]) settle(new Error('the connection closed'));
    this.incoming.clear();
  }

  private onChunk(transferId: number, index: number, data: Uint8Array): void {
    const transfer = this.incoming.get(transferId);
    if (!transfer) return this.refused.has(transferId) ? undefined : this.events.onLog(`mesh: a chunk of unknown transfer ${transferId}`);
    if (index !== transfer.nextIndex) return this.fail(transferId, `chunk ${index} arrived where ${transfer.nextIndex} was expected`);
    if (transfer.received + data.length > transfer.bytes) return this.fail(transferId, `more than the announced ${transfer.bytes} bytes`);
    transfer.chunks.push(data.slice());
    transfer.received += data.length;
    transfer.nextIndex++;
  }

  private async onEnd(transferId: number): Promise<void> {
    const transfer = this.incoming.get(transferId);
    if (!transfer) return this.refused.has(transferId) ? undefined : this.events.onLog(`mesh: end of unknown transfer ${transferId}`);
    this.incoming.delete(transferId);
    if (transfer.received !== transfer.bytes) return this.fail(transferId, `received ${transfer.received} of ${transfer.bytes} bytes`);
    const payload = new Uint8Array(transfer.bytes);
    let offset = 0;
    for (const chunk of transfer.chunks) {
      payload.set(chunk, offset);
      offset += chunk.length;
    }
    if ((await sha256Hex(payload)) !== transfer.sha256) return this.fail(transferId, 'the payload does not match its SHA-256');
    this.control({ type: 'transfer-result', transferId, ok: true });
    this.events.onPayload(payload);
  }

  private fail(transferId: number, error: string): void {
    this.incoming.delete(transferId);
    if (this.refused.size >= 64) this.refused.clear();
    this.refused.add(transferId);
    this.events.onLog(`mesh: transfer ${transferId} failed: ${error}`);
    this.control({ type: 'transfer-result', transferId, ok: false, error });
  }

  private control(message: MeshControl): void {
    if (this.channel.open) this.channel.send(JSON.stringify(message));
  }
}
