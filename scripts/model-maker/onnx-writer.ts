/**
 * Plain-data ONNX model description and its protobuf encoding (field numbers from onnx/onnx.proto, IR 8).
 * Only the subset this generator emits: int/ints attributes, float32/int64 tensors stored as raw_data.
 */
import { ProtoWriter } from './protobuf.ts';

export const ElemType = { FLOAT: 1, INT64: 7, BOOL: 9 } as const;
export type ElemType = (typeof ElemType)[keyof typeof ElemType];

export interface TensorInit {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array;
}

/** A number is an INT attribute, an array an INTS attribute. */
export type AttributeValue = number | readonly number[];

export interface NodeDef {
  readonly name: string;
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

/** A string dimension is symbolic (dim_param), a number fixed (dim_value). */
export type Dim = number | string;

export interface ValueInfo {
  readonly name: string;
  readonly elemType: ElemType;
  readonly shape: readonly Dim[];
}

export interface GraphDef {
  readonly name: string;
  readonly nodes: readonly NodeDef[];
  readonly initializers: readonly TensorInit[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

export interface ModelMeta {
  readonly irVersion: number;
  readonly opsetVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString: string;
}

const ATTR_INT = 2;
const ATTR_INTS = 7;

/** Encodes a ModelProto that imports only the default (ai.onnx) domain. */
export function encodeModel(graph: GraphDef, meta: ModelMeta): Uint8Array {
  const opset = new ProtoWriter().string(1, '').varint(2, meta.opsetVersion).finish();
  return new ProtoWriter()
    .varint(1, meta.irVersion)
    .string(2, meta.producerName)
    .string(3, meta.producerVersion)
    .string(6, meta.docString)
    .bytes(7, encodeGraph(graph))
    .bytes(8, opset)
    .finish();
}

function encodeGraph(graph: GraphDef): Uint8Array {
  const w = new ProtoWriter();
  for (const n of graph.nodes) w.bytes(1, encodeNode(n));
  w.string(2, graph.name);
  for (const t of graph.initializers) w.bytes(5, encodeTensor(t));
  for (const v of graph.inputs) w.bytes(11, encodeValueInfo(v));
  for (const v of graph.outputs) w.bytes(12, encodeValueInfo(v));
  return w.finish();
}

function encodeNode(node: NodeDef): Uint8Array {
  const w = new ProtoWriter();
  for (const i of node.inputs) w.string(1, i);
  for (const o of node.outputs) w.string(2, o);
  w.string(3, node.name).string(4, node.opType);
  for (const [name, value] of Object.entries(node.attributes)) w.bytes(5, encodeAttribute(name, value));
  return w.finish();
}

function encodeAttribute(name: string, value: AttributeValue): Uint8Array {
  const w = new ProtoWriter().string(1, name);
  if (typeof value === 'number') w.varint(3, value).varint(20, ATTR_INT);
  else w.varints(8, value).varint(20, ATTR_INTS);
  return w.finish();
}

function encodeTensor(t: TensorInit): Uint8Array {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('raw_data must be little-endian; big-endian hosts are not supported');
  }
  const elemType = t.data instanceof Float32Array ? ElemType.FLOAT : ElemType.INT64;
  const expected = t.dims.reduce((a, b) => a * b, 1);
  if (expected !== t.data.length) {
    throw new Error(`tensor ${t.name}: dims [${t.dims.join(',')}] do not match ${t.data.length} elements`);
  }
  return new ProtoWriter()
    .varints(1, t.dims)
    .varint(2, elemType)
    .string(8, t.name)
    .bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
    .finish();
}

function encodeValueInfo(v: ValueInfo): Uint8Array {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.bytes(1, dim.finish());
  }
  const tensorType = new ProtoWriter().varint(1, v.elemType).bytes(2, shape.finish()).finish();
  const type = new ProtoWriter().bytes(1, tensorType).finish();
  return new ProtoWriter().string(1, v.name).bytes(2, type).finish();
}
