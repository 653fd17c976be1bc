/**
 * Minimal protobuf *writer* (no reader): just the wire types the ONNX schema needs.
 *
 * Why hand-written instead of protobufjs / onnx-proto: we only ever encode a handful of ONNX messages with
 * fixed field numbers, which takes ~60 lines here, needs no .proto parsing or codegen, and lets large tensors
 * go into the output as zero-copy chunks. A reader is not needed: tests load the files with onnxruntime.
 *
 * Encoding follows proto2 defaults as onnx.proto does: repeated scalars are written unpacked.
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** Accumulates one message as a list of byte chunks; `finish()` concatenates them once. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  /** int32 / int64 / enum / bool field. Negative values are written as 64-bit two's complement. */
  varint(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.rawVarint(BigInt.asUintN(64, BigInt(value)));
    return this;
  }

  /** Unpacked repeated int64 (proto2 default), e.g. TensorProto.dims, AttributeProto.ints. */
  varints(field: number, values: readonly (number | bigint)[]): this {
    for (const v of values) this.varint(field, v);
    return this;
  }

  float32(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** Length-delimited field: bytes or an already encoded sub-message. Does not copy `value`. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.rawVarint(BigInt(value.length));
    this.push(value);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(BigInt((field << 3) | wire));
  }

  private rawVarint(value: bigint): void {
    const bytes: number[] = [];
    let v = value;
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.push(Uint8Array.from(bytes));
  }

  private push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }
}
