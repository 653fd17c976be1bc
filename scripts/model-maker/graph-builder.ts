/**
 * Accumulates nodes, initializers and graph I/O, naming intermediate values automatically.
 * Integer constants are deduplicated so shared shape/axes tensors appear once in the file.
 */
import type { AttributeValue, Dim, ElemType, GraphDef, NodeDef, TensorInit, ValueInfo } from './onnx-writer.ts';

export class GraphBuilder {
  private readonly nodes: NodeDef[] = [];
  private readonly initializers: TensorInit[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly int64Constants = new Map<string, string>();
  private readonly floatConstants = new Map<number, string>();
  private counter = 0;
  /** Prefix for generated node and value names, e.g. `/model/layers.0/attn`. */
  scope = '';

  input(name: string, elemType: ElemType, shape: readonly Dim[]): string {
    this.inputs.push({ name, elemType, shape });
    return name;
  }

  /** Declares `name` (which some node must produce) as a graph output. */
  output(name: string, elemType: ElemType, shape: readonly Dim[]): void {
    this.outputs.push({ name, elemType, shape });
  }

  initializer(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): string {
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** int64 constant of the given shape ([] = scalar). */
  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `${dims.join('x')}:${values.join(',')}`;
    const existing = this.int64Constants.get(key);
    if (existing !== undefined) return existing;
    const name = `/const/int64_${this.int64Constants.size}`;
    this.initializer(
      name,
      dims,
      BigInt64Array.from(values, (v) => BigInt(v)),
    );
    this.int64Constants.set(key, name);
    return name;
  }

  /** float32 scalar constant. */
  float(value: number): string {
    const existing = this.floatConstants.get(value);
    if (existing !== undefined) return existing;
    const name = `/const/float_${this.floatConstants.size}`;
    this.initializer(name, [], Float32Array.of(value));
    this.floatConstants.set(value, name);
    return name;
  }

  /** Adds a single-output node; returns the output name (`output` if given, else a generated one). */
  op(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
    output?: string,
  ): string {
    const [out] = this.opN(opType, inputs, 1, attributes, output === undefined ? undefined : [output]);
    if (out === undefined) throw new Error('unreachable: opN returned no outputs');
    return out;
  }

  /** Adds a node with `count` outputs. */
  opN(
    opType: string,
    inputs: readonly string[],
    count: number,
    attributes: Record<string, AttributeValue> = {},
    outputs?: readonly string[],
  ): string[] {
    const name = `${this.scope}/${opType}_${this.counter++}`;
    const outs = outputs ? [...outputs] : Array.from({ length: count }, (_, i) => `${name}_output_${i}`);
    this.nodes.push({ name, opType, inputs, outputs: outs, attributes });
    return outs;
  }

  build(name: string): GraphDef {
    return {
      name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
    };
  }
}
