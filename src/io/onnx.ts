// ONNX import: a chain-shaped ONNX graph (what PyTorch exports for a sequential network) →
// the same ModelFile a .bwk load gives, so every command can take `--model net.onnx`.
//
// Operators: Gemm (transB, alpha, beta; transA = 0), MatMul (a following Add of a constant
// becomes its bias), Conv (square kernel, equal strides, equal pads, group 1, dilation 1),
// Relu, Flatten (axis 1), Reshape to a flat vector, Sub/Div/Add of constants (→ normalize,
// scalar or per channel), AveragePool (no padding), GlobalAveragePool (square maps), Pad with
// all-zero pads, Identity, Dropout (inference), Constant. Anything else is an error naming the
// operator and the node. Tensors: float32 as raw_data or float_data (float64 accepted and
// rounded), int64/int32 shapes. Limits on file bytes, elements per tensor and in all, and node
// count keep a hostile file from exhausting memory; every problem is one line.
import { readFileSync, statSync } from "node:fs";
import onnxProto from "onnx-proto";
import type { onnx as Onnx } from "onnx-proto";
import type { Architecture } from "../nn/architectures.js";
import { buildLayer } from "../nn/build.js";
import type { Layer, LayerSpec, Shape } from "../nn/layer.js";
import { Model } from "../nn/model.js";
import type { Arena } from "../core/arena.js";
import { weightsHash, type ModelFile } from "./bwk.js";

const { onnx } = onnxProto;

export interface OnnxLimits {
  /** Largest file accepted, in bytes. */
  maxBytes: number;
  /** Largest tensor (initializer or constant), in elements. */
  maxTensorElements: number;
  /** Most parameters in the imported model. */
  maxParams: number;
  /** Most nodes in the graph. */
  maxNodes: number;
}

export const ONNX_LIMITS: OnnxLimits = {
  maxBytes: 512 * 2 ** 20,
  maxTensorElements: 2 ** 27,
  maxParams: 2 ** 28,
  maxNodes: 10_000,
};

const DT = onnx.TensorProto.DataType;
const DT_NAMES = Object.fromEntries(Object.entries(DT).map(([k, v]) => [v, k])) as Record<number, string>;
const MAX_RANK = 8;

/** A constant tensor: float values (weights) or integers (shapes, pads). */
interface Const {
  dims: number[];
  /** float32-rounded values for float tensors; exact values for integer ones. */
  data: Float64Array;
  isInt: boolean;
}

/** protobufjs hands int64 fields over as Long objects (or numbers); both become safe integers. */
function toInt(v: unknown, what: string): number {
  let n: number;
  if (typeof v === "number") n = v;
  else if (v && typeof v === "object" && "low" in v && "high" in v) {
    const { low, high } = v as { low: number; high: number };
    n = high * 2 ** 32 + (low >>> 0);
  } else throw new Error(`${what} is not an integer`);
  if (!Number.isSafeInteger(n)) throw new Error(`${what} is out of range`);
  return n;
}

function elementCount(dims: number[], what: string, limits: OnnxLimits): number {
  if (dims.length > MAX_RANK) throw new Error(`${what} has rank ${dims.length} (at most ${MAX_RANK})`);
  let n = 1;
  for (const d of dims) {
    if (d < 0) throw new Error(`${what} has a negative dimension ${d}`);
    n *= d;
    if (n > limits.maxTensorElements) {
      throw new Error(`${what} has more than ${limits.maxTensorElements} elements (limit); shape [${dims.join(",")}]`);
    }
  }
  return n;
}

/** Decodes a TensorProto, checking its size against its shape before anything is allocated. */
function readTensor(t: Onnx.ITensorProto, what: string, limits: OnnxLimits): Const {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData?.length ?? 0) > 0) {
    throw new Error(`${what} keeps its data in an external file (not supported; save the model with the weights inside)`);
  }
  if (t.segment) throw new Error(`${what} is segmented (not supported)`);
  const dims = (t.dims ?? []).map((d, i) => toInt(d, `${what}: dimension ${i}`));
  const n = elementCount(dims, what, limits);
  const type = t.dataType ?? 0;
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  // Sizes are checked against the shape before the (float64) copy is allocated, so the copy
  // is never larger than twice what the file itself holds.
  const rawView = (bytes: number): DataView => {
    if (raw!.length !== n * bytes) throw new Error(`${what}: raw_data holds ${raw!.length} bytes, shape [${dims.join(",")}] needs ${n * bytes}`);
    return new DataView(raw!.buffer, raw!.byteOffset, raw!.byteLength);
  };
  const typed = (arr: ArrayLike<unknown> | null | undefined, field: string): ArrayLike<unknown> => {
    const a = arr ?? [];
    if (a.length !== n) throw new Error(`${what}: ${field} holds ${a.length} values, shape [${dims.join(",")}] needs ${n}`);
    return a;
  };
  let data!: Float64Array;
  const alloc = <T>(src: T): T => {
    data = new Float64Array(n);
    return src;
  };
  switch (type) {
    case DT.FLOAT: {
      if (raw) {
        // One copy into aligned memory, then a native float32 → float64 widening (little-endian
        // hosts only, as src/io/bwk.ts).
        alloc(rawView(4));
        const f = new Float32Array(n);
        new Uint8Array(f.buffer).set(raw);
        data.set(f);
      } else {
        const a = alloc(typed(t.floatData, "float_data"));
        for (let i = 0; i < n; i++) data[i] = Math.fround(Number(a[i]));
      }
      return { dims, data, isInt: false };
    }
    case DT.DOUBLE: {
      // Weights run in float32 here: round once.
      if (raw) {
        const v = alloc(rawView(8));
        for (let i = 0; i < n; i++) data[i] = Math.fround(v.getFloat64(8 * i, true));
      } else {
        const a = alloc(typed(t.doubleData, "double_data"));
        for (let i = 0; i < n; i++) data[i] = Math.fround(Number(a[i]));
      }
      return { dims, data, isInt: false };
    }
    case DT.INT64: {
      if (raw) {
        const v = alloc(rawView(8));
        for (let i = 0; i < n; i++) {
          const b = v.getBigInt64(8 * i, true);
          if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`${what}: value ${b} at ${i} is out of range`);
          data[i] = Number(b);
        }
      } else {
        const a = alloc(typed(t.int64Data, "int64_data"));
        for (let i = 0; i < n; i++) data[i] = toInt(a[i], `${what}: value ${i}`);
      }
      return { dims, data, isInt: true };
    }
    case DT.INT32: {
      if (raw) {
        const v = alloc(rawView(4));
        for (let i = 0; i < n; i++) data[i] = v.getInt32(4 * i, true);
      } else {
        const a = alloc(typed(t.int32Data, "int32_data"));
        for (let i = 0; i < n; i++) data[i] = Number(a[i]);
      }
      return { dims, data, isInt: true };
    }
    default:
      throw new Error(`${what} has data type ${DT_NAMES[type] ?? type} (supported: FLOAT, DOUBLE, INT64, INT32)`);
  }
}

type Attr = Onnx.IAttributeProto;
const AT = onnx.AttributeProto.AttributeType;
const AT_NAMES = Object.fromEntries(Object.entries(AT).map(([k, v]) => [v, k])) as Record<number, string>;

/** Typed access to a node's attributes, with defaults; a wrong type is an error. */
class Attrs {
  private readonly map = new Map<string, Attr>();
  constructor(private readonly node: Onnx.INodeProto, private readonly where: string) {
    for (const a of node.attribute ?? []) this.map.set(a.name ?? "", a);
  }

  private get(name: string, type: number): Attr | undefined {
    const a = this.map.get(name);
    if (a && a.type !== type && a.type !== AT.UNDEFINED) {
      throw new Error(`${this.where}: attribute '${name}' has type ${AT_NAMES[a.type ?? 0]} (expected ${AT_NAMES[type]})`);
    }
    return a;
  }

  int(name: string, dflt: number): number {
    const a = this.get(name, AT.INT);
    return a ? toInt(a.i ?? 0, `${this.where}: attribute '${name}'`) : dflt;
  }

  ints(name: string): number[] | undefined {
    const a = this.get(name, AT.INTS);
    return a ? (a.ints ?? []).map((v, i) => toInt(v, `${this.where}: attribute '${name}'[${i}]`)) : undefined;
  }

  float(name: string, dflt: number): number {
    const a = this.get(name, AT.FLOAT);
    return a ? Number(a.f ?? 0) : dflt;
  }

  string(name: string, dflt: string): string {
    const a = this.get(name, AT.STRING);
    return a ? Buffer.from(a.s ?? new Uint8Array()).toString("utf8") : dflt;
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  tensor(name: string): Onnx.ITensorProto | undefined {
    return this.get(name, AT.TENSOR)?.t ?? undefined;
  }

  /** Fails on any attribute not in `known` (it would change the operator's meaning). */
  only(known: string[]): void {
    for (const k of this.map.keys()) {
      if (!known.includes(k)) throw new Error(`${this.where}: attribute '${k}' is not supported`);
    }
  }
}

/** Supported operators (anything else: an error naming it). */
const SUPPORTED = new Set([
  "Gemm", "MatMul", "Add", "Conv", "Relu", "Flatten", "Reshape", "Sub", "Div", "AveragePool",
  "GlobalAveragePool", "Pad", "Identity", "Dropout", "Constant",
]);

/**
 * A constant that broadcasts over the activation [batch, ...shape] as one value or one per
 * channel (shape[0]): returned as a list of 1 or shape[0] numbers, or null when it does not.
 */
function perChannel(c: Const, shape: Shape): number[] | null {
  const rank = shape.length + 1;
  if (c.dims.length > rank) return null;
  const dims = [...new Array(rank - c.dims.length).fill(1), ...c.dims];
  if (dims[0] !== 1) return null;
  const rest = dims.slice(1);
  if (rest.every((d) => d === 1)) return [c.data[0]];
  if (rest[0] === shape[0] && rest.slice(1).every((d) => d === 1)) return Array.from(c.data);
  return null;
}

function fmtShape(dims: number[]): string {
  return `[${dims.join(",")}]`;
}

/** Parses the graph's one data input: [batch, ...shape], batch symbolic or 1. */
function inputShape(vi: Onnx.IValueInfoProto, where: string): Shape {
  const tt = vi.type?.tensorType;
  if (!tt) throw new Error(`${where}: input '${vi.name}' is not a tensor`);
  if (tt.elemType !== DT.FLOAT) throw new Error(`${where}: input '${vi.name}' has element type ${DT_NAMES[tt.elemType ?? 0] ?? tt.elemType} (expected FLOAT)`);
  const dims = tt.shape?.dim ?? [];
  if (dims.length < 2 || dims.length > 4) {
    throw new Error(`${where}: input '${vi.name}' has rank ${dims.length}; expected [batch, features] or [batch, C, H, W]`);
  }
  // A symbolic dimension (dim_param) or an unset one reads as null.
  const value = (d: Onnx.TensorShapeProto.IDimension): number | null =>
    d.dimParam ? null : toInt(d.dimValue ?? 0, `${where}: input dimension`) || null;
  const b = value(dims[0]);
  if (b !== null && b !== 1) throw new Error(`${where}: input '${vi.name}' has batch dimension ${b} (expected 1 or symbolic)`);
  return dims.slice(1).map((d, i) => {
    const v = value(d);
    if (v === null || v < 1 || v > 1 << 24) {
      throw new Error(`${where}: input '${vi.name}' dimension ${i + 1} must be a fixed positive size, got ${d.dimParam ? `'${d.dimParam}'` : v}`);
    }
    return v;
  });
}

interface Emitted {
  spec: LayerSpec;
  params: Float32Array;
  /** The node that made it (for merges: a following Add or Div). */
  op: string;
}

/**
 * Translates a decoded ONNX model. `source` prefixes every error (the file name).
 */
function translate(m: Onnx.ModelProto, source: string, limits: OnnxLimits): ModelFile {
  const g = m.graph;
  if (!g) throw new Error(`${source}: ONNX model has no graph`);
  const nodes = g.node ?? [];
  if (nodes.length > limits.maxNodes) throw new Error(`${source}: graph has ${nodes.length} nodes (limit ${limits.maxNodes})`);
  // Other operator sets may be declared; only a node that uses one is an error (below).
  const consts = new Map<string, Const>();
  for (const t of g.initializer ?? []) consts.set(t.name ?? "", readTensor(t, `${source}: initializer '${t.name}'`, limits));
  if ((g.sparseInitializer?.length ?? 0) > 0) throw new Error(`${source}: sparse initializers are not supported`);
  const inputs = (g.input ?? []).filter((v) => !consts.has(v.name ?? ""));
  if (inputs.length !== 1) {
    throw new Error(`${source}: graph must have exactly one data input (not an initializer), found ${inputs.length}${inputs.length ? `: ${inputs.map((v) => `'${v.name}'`).join(", ")}` : ""}`);
  }
  const shape0 = inputShape(inputs[0], source);
  let current = inputs[0].name ?? "";
  let shape: Shape = shape0;
  const layers: Emitted[] = [];
  /** Names that were activations once: reading one again means the graph branches. */
  const past = new Set<string>();

  const emit = (where: string, op: string, spec: LayerSpec, params: Float32Array = new Float32Array()): void => {
    let built: Layer;
    try {
      built = buildLayer(spec, shape, layers.length);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
    if (built.paramCount !== params.length) throw new Error(`${where}: internal error: ${params.length} parameters for ${built.paramCount}`);
    layers.push({ spec, params, op });
    shape = built.outShape;
  };

  for (let ni = 0; ni < nodes.length; ni++) {
    const node = nodes[ni];
    const op = node.opType ?? "";
    const name = node.name || `#${ni}`;
    const where = `${source}: node '${name}' (${op})`;
    if (node.domain && node.domain !== "ai.onnx") throw new Error(`${source}: unsupported ONNX operator '${node.domain}.${op}' (node '${name}')`);
    if (!SUPPORTED.has(op)) throw new Error(`${source}: unsupported ONNX operator '${op}' (node '${name}')`);
    const attrs = new Attrs(node, where);
    const ins = (node.input ?? []);
    const outs = (node.output ?? []).filter((o) => o !== "");
    if (outs.length === 0) throw new Error(`${where}: has no output`);
    const constOf = (i: number, what: string): Const => {
      const c = consts.get(ins[i] ?? "");
      if (!c) throw new Error(`${where}: ${what} ('${ins[i] ?? ""}') must be a constant (an initializer or a Constant node)`);
      return c;
    };
    const floatConst = (i: number, what: string): Const => {
      const c = constOf(i, what);
      if (c.isInt) throw new Error(`${where}: ${what} must be a float tensor`);
      return c;
    };

    if (op === "Constant") {
      attrs.only(["value", "value_float", "value_floats", "value_int", "value_ints"]);
      const t = attrs.tensor("value");
      let c: Const;
      if (t) c = readTensor(t, `${where}: value`, limits);
      else if (attrs.has("value_float")) c = { dims: [], data: Float64Array.of(Math.fround(attrs.float("value_float", 0))), isInt: false };
      else if (attrs.has("value_int")) c = { dims: [], data: Float64Array.of(attrs.int("value_int", 0)), isInt: true };
      else if (attrs.has("value_ints")) {
        const v = attrs.ints("value_ints")!;
        c = { dims: [v.length], data: Float64Array.from(v), isInt: true };
      } else if (attrs.has("value_floats")) {
        const a = node.attribute!.find((x) => x.name === "value_floats")!;
        const v = (a.floats ?? []).map((x) => Math.fround(Number(x)));
        c = { dims: [v.length], data: Float64Array.from(v), isInt: false };
      } else throw new Error(`${where}: no value`);
      consts.set(outs[0], c);
      continue;
    }

    // Every other node reads the current activation and constants, and makes the next activation.
    const dataIdx = ins.findIndex((n) => n === current);
    for (const n of ins) {
      if (n === "" || n === current || consts.has(n)) continue;
      if (past.has(n)) throw new Error(`${where}: reads '${n}', an earlier activation; only chain-shaped graphs (no skip connections) are supported`);
      throw new Error(`${where}: reads '${n}', which no earlier node produces`);
    }
    if (dataIdx < 0) throw new Error(`${where}: does not read the current activation '${current}'; only chain-shaped graphs are supported`);
    if (ins.filter((n) => n === current).length > 1) throw new Error(`${where}: reads the activation twice (not affine in it)`);
    const last = layers[layers.length - 1];
    const rank = shape.length;

    switch (op) {
      case "Identity":
        break;
      case "Dropout": {
        // Inference: identity, unless a constant training_mode input says otherwise.
        if (ins[2] && consts.get(ins[2])?.data[0]) throw new Error(`${where}: training_mode is on`);
        if (outs.length > 1) throw new Error(`${where}: the dropout mask output is not supported`);
        break;
      }
      case "Relu":
        emit(where, op, { type: "relu" });
        break;
      case "Flatten": {
        attrs.only(["axis"]);
        const axis = attrs.int("axis", 1);
        if (axis !== 1 && axis !== -rank) throw new Error(`${where}: axis ${axis} is not supported (only 1: one vector per sample)`);
        if (rank > 1) emit(where, op, { type: "flatten" });
        break;
      }
      case "Reshape": {
        attrs.only(["allowzero"]);
        if (dataIdx !== 0) throw new Error(`${where}: the shape must be the second input`);
        const t = constOf(1, "the target shape");
        const target = Array.from(t.data);
        const size = shape.reduce((a, b) => a * b, 1);
        const allowzero = attrs.int("allowzero", 0) === 1;
        const flat = target.length === 2
          && (target[0] === -1 || target[0] === 1 || (target[0] === 0 && !allowzero))
          && (target[1] === size || (target[1] === -1 && target[0] !== -1));
        if (!flat) throw new Error(`${where}: target shape [${target.join(",")}] is not one flat vector of ${size} per sample (only flattening reshapes are supported)`);
        if (rank > 1) emit(where, op, { type: "flatten" });
        break;
      }
      case "Gemm": {
        attrs.only(["alpha", "beta", "transA", "transB"]);
        if (dataIdx !== 0) throw new Error(`${where}: the activation must be input A`);
        if (attrs.int("transA", 0) !== 0) throw new Error(`${where}: transA=1 is not supported (the activation is [batch, features])`);
        if (rank !== 1) throw new Error(`${where}: needs a flat input, got ${fmtShape(shape)} per sample (add Flatten first)`);
        const b = floatConst(1, "B");
        const transB = attrs.int("transB", 0) === 1;
        if (b.dims.length !== 2) throw new Error(`${where}: B has shape ${fmtShape(b.dims)} (expected 2-D)`);
        const [inF, outF] = transB ? [b.dims[1], b.dims[0]] : b.dims;
        if (inF !== shape[0]) throw new Error(`${where}: B ${fmtShape(b.dims)}${transB ? " (transposed)" : ""} takes ${inF} inputs, the activation has ${shape[0]}`);
        const alpha = attrs.float("alpha", 1);
        const beta = attrs.float("beta", 1);
        const p = new Float32Array(inF * outF + outF);
        denseWeights(b.data, inF, outF, transB, alpha, p);
        if (ins[2]) {
          const c = floatConst(2, "C");
          const bias = perChannel(c, [outF]);
          if (!bias) throw new Error(`${where}: C has shape ${fmtShape(c.dims)}; expected a bias of ${outF} (or one value)`);
          for (let o = 0; o < outF; o++) p[inF * outF + o] = beta * bias[bias.length === 1 ? 0 : o];
        }
        emit(where, op, { type: "dense", in: inF, out: outF }, p);
        break;
      }
      case "MatMul": {
        if (dataIdx !== 0) throw new Error(`${where}: the activation must be the first input (x·W)`);
        if (rank !== 1) throw new Error(`${where}: needs a flat input, got ${fmtShape(shape)} per sample (add Flatten first)`);
        const w = floatConst(1, "the weight");
        if (w.dims.length !== 2) throw new Error(`${where}: weight has shape ${fmtShape(w.dims)} (expected 2-D [in, out])`);
        const [inF, outF] = w.dims;
        if (inF !== shape[0]) throw new Error(`${where}: weight ${fmtShape(w.dims)} takes ${inF} inputs, the activation has ${shape[0]}`);
        const p = new Float32Array(inF * outF + outF);
        denseWeights(w.data, inF, outF, false, 1, p);
        emit(where, op, { type: "dense", in: inF, out: outF }, p);
        break;
      }
      case "Add": {
        const c = floatConst(1 - dataIdx, "the addend");
        // Right after a MatMul/Gemm/Conv: the bias (per output or per output channel).
        if (last && (last.op === "MatMul" || last.op === "Gemm" || last.op === "Conv") && (last.spec.type === "dense" || last.spec.type === "conv2d")) {
          const per = perChannel(c, shape);
          if (per) {
            const nOut = shape[0];
            const base = last.params.length - nOut;
            for (let o = 0; o < nOut; o++) last.params[base + o] = last.params[base + o] + per[per.length === 1 ? 0 : o];
            last.op = "Add"; // a second Add becomes a normalisation, not another bias
            break;
          }
        }
        const per = perChannel(c, shape);
        if (!per) throw new Error(`${where}: addend of shape ${fmtShape(c.dims)} is neither a bias nor per-channel over ${fmtShape(shape)}`);
        emit(where, op, { type: "normalize", mean: per.map((v) => -v), std: [1] });
        break;
      }
      case "Sub": {
        const c = floatConst(1 - dataIdx, "the subtrahend");
        const per = perChannel(c, shape);
        if (!per) throw new Error(`${where}: constant of shape ${fmtShape(c.dims)} is not one value or one per channel of ${fmtShape(shape)}`);
        // x − c = (x − c) / 1; c − x = (x − c) / −1.
        emit(where, op, { type: "normalize", mean: per, std: [dataIdx === 0 ? 1 : -1] });
        break;
      }
      case "Div": {
        if (dataIdx !== 0) throw new Error(`${where}: dividing by the activation is not affine`);
        const c = floatConst(1, "the divisor");
        const per = perChannel(c, shape);
        if (!per) throw new Error(`${where}: divisor of shape ${fmtShape(c.dims)} is not one value or one per channel of ${fmtShape(shape)}`);
        if (per.some((v) => v === 0)) throw new Error(`${where}: divisor has a zero`);
        // Right after a Sub: one layer (x − mean) / std (the Sub's ±1 times this divisor, exact).
        if (last && last.op === "Sub" && last.spec.type === "normalize") {
          const prev = last.spec;
          const n = Math.max(prev.std.length, per.length);
          const at = (a: number[], k: number) => a[a.length === 1 ? 0 : k];
          const std = Array.from({ length: n }, (_, k) => at(prev.std, k) * at(per, k));
          last.spec = { type: "normalize", mean: prev.mean, std };
          last.op = "Div";
          break;
        }
        emit(where, op, { type: "normalize", mean: [0], std: per });
        break;
      }
      case "Conv": {
        attrs.only(["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"]);
        if (dataIdx !== 0) throw new Error(`${where}: the activation must be input X`);
        if (rank !== 3) throw new Error(`${where}: needs a [C,H,W] input per sample, got ${fmtShape(shape)}`);
        const w = floatConst(1, "the weight");
        if (w.dims.length !== 4) throw new Error(`${where}: weight has shape ${fmtShape(w.dims)} (only 2-D convolutions: [Cout, Cin, K, K])`);
        const [cout, cin, kh, kw] = w.dims;
        if (attrs.int("group", 1) !== 1) throw new Error(`${where}: group ${attrs.int("group", 1)} is not supported (only 1)`);
        if (cin !== shape[0]) throw new Error(`${where}: weight ${fmtShape(w.dims)} takes ${cin} channels, the activation has ${shape[0]}`);
        if (kh !== kw) throw new Error(`${where}: kernel ${kh}×${kw} is not square (not supported)`);
        const ks = attrs.ints("kernel_shape");
        if (ks && (ks.length !== 2 || ks[0] !== kh || ks[1] !== kw)) throw new Error(`${where}: kernel_shape [${ks}] disagrees with the weight ${fmtShape(w.dims)}`);
        const dil = attrs.ints("dilations") ?? [1, 1];
        if (dil.some((d) => d !== 1)) throw new Error(`${where}: dilations [${dil}] are not supported (only 1)`);
        const strides = attrs.ints("strides") ?? [1, 1];
        if (strides.length !== 2 || strides[0] !== strides[1]) throw new Error(`${where}: strides [${strides}] must be two equal values`);
        const pad = padding(attrs, where);
        const p = new Float32Array(w.data.length + cout);
        p.set(w.data);
        if (ins[2]) {
          const b = floatConst(2, "the bias");
          if (b.data.length !== cout) throw new Error(`${where}: bias has ${b.data.length} values for ${cout} output channels`);
          p.set(b.data, w.data.length);
        }
        emit(where, op, { type: "conv2d", inChannels: cin, outChannels: cout, kernel: kh, stride: strides[0], padding: pad }, p);
        break;
      }
      case "AveragePool": {
        attrs.only(["auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides", "dilations"]);
        if (rank !== 3) throw new Error(`${where}: needs a [C,H,W] input per sample, got ${fmtShape(shape)}`);
        const ks = attrs.ints("kernel_shape");
        if (!ks || ks.length !== 2 || ks[0] !== ks[1]) throw new Error(`${where}: kernel_shape [${ks ?? ""}] must be two equal values`);
        const strides = attrs.ints("strides") ?? [1, 1];
        if (strides.length !== 2 || strides[0] !== strides[1]) throw new Error(`${where}: strides [${strides}] must be two equal values`);
        if (attrs.int("ceil_mode", 0) !== 0) throw new Error(`${where}: ceil_mode=1 is not supported`);
        const dil = attrs.ints("dilations") ?? [1, 1];
        if (dil.some((d) => d !== 1)) throw new Error(`${where}: dilations [${dil}] are not supported (only 1)`);
        if (padding(attrs, where) !== 0) throw new Error(`${where}: padded average pooling is not supported`);
        emit(where, op, { type: "avgpool2d", kernel: ks[0], stride: strides[0] });
        break;
      }
      case "GlobalAveragePool": {
        if (rank !== 3 || shape[1] !== shape[2]) throw new Error(`${where}: needs a square [C,H,W] input per sample, got ${fmtShape(shape)}`);
        emit(where, op, { type: "avgpool2d", kernel: shape[1], stride: 1 });
        break;
      }
      case "Pad": {
        // PyTorch writes a Pad with zero pads before AveragePool; that one is a no-op.
        attrs.only(["mode", "pads", "value"]);
        const pads = ins[1] ? Array.from(constOf(1, "the pads").data) : attrs.ints("pads") ?? [];
        if (pads.some((v) => v !== 0)) throw new Error(`${where}: non-zero pads [${pads}] are not supported (fold the padding into a Conv)`);
        break;
      }
      default:
        throw new Error(`${source}: unsupported ONNX operator '${op}' (node '${name}')`);
    }
    past.add(current);
    current = outs[0];
    if (outs.length > 1) throw new Error(`${where}: has ${outs.length} outputs (only one is supported)`);
  }

  const outputs = g.output ?? [];
  if (outputs.length !== 1) throw new Error(`${source}: graph must have exactly one output, found ${outputs.length}`);
  if (outputs[0].name !== current) throw new Error(`${source}: graph output '${outputs[0].name}' is not the end of the chain ('${current}')`);
  if (layers.length === 0) throw new Error(`${source}: graph has no layers`);
  if (shape.length !== 1) throw new Error(`${source}: the output must be a vector per sample, got ${fmtShape(shape)}`);
  const total = layers.reduce((s, l) => s + l.params.length, 0);
  if (total > limits.maxParams) throw new Error(`${source}: ${total} parameters (limit ${limits.maxParams})`);
  const params = new Float32Array(total);
  let off = 0;
  for (const [k, l] of layers.entries()) {
    const bad = firstNonFinite(l.params);
    if (bad >= 0) throw new Error(`${source}: non-finite weight ${l.params[bad]} in layer ${k} (${l.spec.type})`);
    params.set(l.params, off);
    off += l.params.length;
  }
  const architecture: Architecture = { name: g.name || "onnx", inputShape: shape0, layers: layers.map((l) => l.spec) };
  const opset = (m.opsetImport ?? []).find((o) => !o.domain || o.domain === "ai.onnx");
  return {
    architecture,
    params,
    tensors: {},
    meta: {
      importedFrom: "onnx",
      producer: [m.producerName, m.producerVersion].filter(Boolean).join(" "),
      opset: opset ? toInt(opset.version ?? 0, "opset version") : null,
      input: inputs[0].name,
      output: outputs[0].name,
    },
  };
}

/** W [out, in] (our layout) ← alpha·B, B stored [out, in] (transposed) or [in, out]. Small hot loops live outside translate so they get optimised. */
function denseWeights(b: Float64Array, inF: number, outF: number, transposed: boolean, alpha: number, p: Float32Array): void {
  if (transposed) {
    for (let k = 0; k < inF * outF; k++) p[k] = alpha * b[k];
    return;
  }
  for (let i = 0; i < inF; i++) {
    const row = i * outF;
    for (let o = 0; o < outF; o++) p[o * inF + i] = alpha * b[row + o];
  }
}

function firstNonFinite(v: Float32Array): number {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return i;
  return -1;
}

/** Symmetric padding from `pads` [top, left, bottom, right] (or auto_pad VALID/NOTSET). */
function padding(attrs: Attrs, where: string): number {
  const auto = attrs.string("auto_pad", "NOTSET");
  if (auto !== "NOTSET" && auto !== "VALID") throw new Error(`${where}: auto_pad ${auto} is not supported (give explicit pads)`);
  const pads = attrs.ints("pads") ?? [0, 0, 0, 0];
  if (pads.length !== 4 || pads.some((p) => p !== pads[0]) || pads[0] < 0) throw new Error(`${where}: pads [${pads}] must be four equal non-negative values`);
  if (auto === "VALID" && pads[0] !== 0) throw new Error(`${where}: auto_pad VALID with non-zero pads`);
  return pads[0];
}

/** ONNX bytes → the model file a .bwk load would give (architecture, flat float32 parameters). */
export function decodeOnnx(bytes: Uint8Array, source = "model", limits: OnnxLimits = ONNX_LIMITS): ModelFile & { weightsHash: string } {
  if (bytes.length > limits.maxBytes) throw new Error(`${source}: ONNX file is ${bytes.length} bytes (limit ${limits.maxBytes})`);
  if (bytes.length === 0) throw new Error(`${source}: empty file`);
  let m: Onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    // protobufjs: "index out of range" (truncated), "invalid wire type" (not protobuf), stack overflow (nesting).
    throw new Error(`${source}: not a valid ONNX model (${(e as Error).message.split("\n")[0]})`);
  }
  let file: ModelFile;
  try {
    file = translate(m, source, limits);
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.startsWith(source) ? msg : `${source}: ${msg}`);
  }
  return { ...file, weightsHash: weightsHash(file.params) };
}

/** Reads an ONNX file, checking its size before reading it. */
export function loadOnnx(path: string, limits: OnnxLimits = ONNX_LIMITS): ModelFile & { weightsHash: string } {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read model (${code === "ENOENT" ? "no such file" : code ?? (e as Error).message})`);
  }
  if (size > limits.maxBytes) throw new Error(`${path}: ONNX file is ${size} bytes (limit ${limits.maxBytes})`);
  return decodeOnnx(readFileSync(path), path, limits);
}

/** A ready-to-run Model from ONNX bytes (the same as instantiate(loadModel(…)) for a .bwk). */
export function importOnnx(bytes: Uint8Array, opts: { source?: string; limits?: OnnxLimits; arena?: Arena } = {}): Model {
  const file = decodeOnnx(bytes, opts.source, opts.limits);
  const model = new Model(file.architecture, opts.arena);
  model.setParams(file.params);
  return model;
}
