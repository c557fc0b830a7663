// ONNX import and export: round trips .bwk → ONNX → model with identical logits (mlp,
// cnn-small, a normalise/pool net), PyTorch-exported fixtures against PyTorch's own outputs,
// hand-built graphs our exporter never writes (MatMul+Add, Sub/Div/Add constants, Reshape,
// Constant nodes, float_data and raw_data), and every kind of bad file as a one-line error:
// unsupported operators, unsupported parameters, non-chain graphs, truncated and hostile
// bytes, and the size limits.
import test from "ava";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import type { onnx as Onnx } from "onnx-proto";
import { loadModelFile } from "../src/cli/inputs.js";
import { encodeModel } from "../src/io/bwk.js";
import { decodeOnnx, importOnnx, loadOnnx, ONNX_LIMITS, type OnnxLimits } from "../src/io/onnx.js";
import { exportOnnx } from "../src/io/onnx-export.js";
import { architecture, type Architecture } from "../src/nn/architectures.js";
import type { LayerSpec } from "../src/nn/layer.js";
import { Model } from "../src/nn/model.js";
import { ROOT, tmp } from "./helpers/cli.js";
import { runForward, testArena, uniformArray } from "./helpers/layercheck.js";

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const AT = onnx.AttributeProto.AttributeType;

// ---------------------------------------------------------------------------------------------
// Building graphs by hand

function raw(name: string, dims: number[], v: ArrayLike<number>): Onnx.ITensorProto {
  const b = new Uint8Array(v.length * 4);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < v.length; i++) dv.setFloat32(4 * i, v[i], true);
  return { name, dims, dataType: FLOAT, rawData: b };
}
const floats = (name: string, dims: number[], v: ArrayLike<number>): Onnx.ITensorProto => ({ name, dims, dataType: FLOAT, floatData: Array.from(v) });
const int64s = (name: string, v: number[]): Onnx.ITensorProto => ({ name, dims: [v.length], dataType: INT64, int64Data: v });
const attrInts = (name: string, v: number[]): Onnx.IAttributeProto => ({ name, type: AT.INTS, ints: v });
const attrInt = (name: string, v: number): Onnx.IAttributeProto => ({ name, type: AT.INT, i: v });
const attrFloat = (name: string, v: number): Onnx.IAttributeProto => ({ name, type: AT.FLOAT, f: v });

function vi(name: string, dims: (number | string)[]): Onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) } } } };
}

/** A chain graph: each node reads the previous output (named by `io`) plus its constants. */
interface NodeDef {
  op: string;
  consts?: string[];
  /** Where the activation goes among the inputs (default first). */
  at?: number;
  attrs?: Onnx.IAttributeProto[];
  name?: string;
}

function graph(input: (number | string)[], nodes: NodeDef[], inits: Onnx.ITensorProto[], extraNodes: Onnx.INodeProto[] = []): Uint8Array {
  let cur = "x";
  const ns: Onnx.INodeProto[] = [...extraNodes];
  nodes.forEach((n, i) => {
    const ins = [...(n.consts ?? [])];
    ins.splice(n.at ?? 0, 0, cur);
    const out = i === nodes.length - 1 ? "y" : `t${i}`;
    ns.push({ opType: n.op, name: n.name ?? `${n.op.toLowerCase()}${i}`, input: ins, output: [out], attribute: n.attrs ?? [] });
    cur = out;
  });
  const m: Onnx.IModelProto = {
    irVersion: 7, opsetImport: [{ domain: "", version: 13 }], producerName: "test",
    graph: { name: "hand", node: ns, initializer: inits, input: [vi("x", input)], output: [vi("y", ["N", 0])] },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(m)).finish();
}

/** Float64 reference of x·W + b, W [in, out] row-major. */
function affine(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, inF: number, outF: number): Float64Array {
  const y = new Float64Array(outF);
  for (let o = 0; o < outF; o++) {
    let s = b[o];
    for (let i = 0; i < inF; i++) s += x[i] * w[i * outF + o];
    y[o] = s;
  }
  return y;
}

function close(t: { true(v: boolean, m?: string): void }, got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  t.true(got.length === want.length && worst <= tol * Math.max(1, scale), `${what}: error ${worst} (scale ${scale})`);
}

function model(arch: Architecture, seed: number): Model {
  return new Model(arch, testArena()).init(seed);
}

// ---------------------------------------------------------------------------------------------
// Round trips

const ROUND_TRIPS: Architecture[] = [
  architecture("mlp", [1, 28, 28], 10),
  architecture("cnn-small", [1, 28, 28], 10),
  {
    name: "norm-pool", inputShape: [3, 8, 8], layers: [
      { type: "normalize", mean: [0.25, 0.5, 0.75], std: [0.5, 0.25, 2] },
      { type: "conv2d", inChannels: 3, outChannels: 4, kernel: 3, stride: 1, padding: 1 }, { type: "relu" },
      { type: "avgpool2d", kernel: 2, stride: 2 }, { type: "flatten" },
      { type: "dense", in: 64, out: 6 }, { type: "relu" }, { type: "normalize", mean: [1], std: [-4] }, { type: "dense", in: 6, out: 3 },
    ],
  },
];

for (const arch of ROUND_TRIPS) {
  test(`round trip through ONNX keeps ${arch.name} exactly`, (t) => {
    const a = model(arch, 11);
    const bytes = exportOnnx({ architecture: arch, params: a.params.f32 });
    const file = decodeOnnx(bytes, "rt.onnx");
    t.deepEqual(file.architecture.layers, arch.layers);
    t.deepEqual(file.architecture.inputShape, arch.inputShape);
    t.deepEqual(file.params, a.params.f32);
    const b = importOnnx(bytes, { arena: testArena() });
    const batch = 5;
    const x = uniformArray(batch * a.inputSize, 3, 0, 1);
    t.deepEqual(runForward(b, x, batch), runForward(a, x, batch));
  });
}

// ---------------------------------------------------------------------------------------------
// Third-party files: PyTorch 1.13's torch.onnx.export (test/fixtures/make-torch-onnx.py)

const expected = JSON.parse(readFileSync(join(ROOT, "test/fixtures/torch-onnx-expected.json"), "utf8"));

for (const name of ["torch-cnn", "torch-mlp"]) {
  test(`a PyTorch export (${name}) runs like PyTorch`, (t) => {
    const bytes = readFileSync(join(ROOT, `test/fixtures/${name}.onnx`));
    const m = importOnnx(bytes, { source: name, arena: testArena() });
    const e = expected[name];
    t.deepEqual(m.arch.inputShape, e.shape);
    const got = runForward(m, e.x, 4);
    close(t, got, e.y, 1e-5, name);
    t.is(decodeOnnx(bytes).architecture.layers[0].type, "normalize");
  });
}

// ---------------------------------------------------------------------------------------------
// Hand-built graphs

test("MatMul followed by Add (either order) becomes a dense layer with that bias", (t) => {
  const w1 = uniformArray(12, 1);
  const b1 = uniformArray(3, 2);
  const w2 = uniformArray(6, 3);
  const b2 = uniformArray(2, 4);
  const bytes = graph(["N", 4], [
    { op: "MatMul", consts: ["w1"] }, { op: "Add", consts: ["b1"] }, { op: "Relu" },
    { op: "MatMul", consts: ["w2"] }, { op: "Add", consts: ["b2"], at: 1 },
  ], [floats("w1", [4, 3], w1), raw("b1", [3], b1), raw("w2", [3, 2], w2), floats("b2", [1, 2], b2)]);
  const file = decodeOnnx(bytes);
  t.deepEqual(file.architecture.layers.map((l) => l.type), ["dense", "relu", "dense"]);
  const m = importOnnx(bytes, { arena: testArena() });
  const x = Float64Array.from(uniformArray(4, 5), Math.fround);
  const h = affine(x, Float32Array.from(w1), Float32Array.from(b1), 4, 3).map((v) => Math.max(0, v));
  const want = affine(h, Float32Array.from(w2), Float32Array.from(b2), 3, 2);
  close(t, runForward(m, x, 1), want, 1e-6, "matmul+add");
});

test("Sub/Div constants (scalar and per channel, Constant nodes, c − x) become normalisation", (t) => {
  const mean = [0.2, -0.4];
  const std = 0.5;
  const wg = uniformArray(18 * 4, 7);
  const cg = uniformArray(4, 8);
  const constNode: Onnx.INodeProto = {
    opType: "Constant", name: "k", input: [], output: ["mean"],
    attribute: [{ name: "value", type: AT.TENSOR, t: raw("", [1, 2, 1, 1], mean) }],
  };
  // (x − mean) / std → Reshape [1, −1] → Gemm(alpha 0.5, beta 2, B [in, out]).
  const bytes = graph([1, 2, 3, 3], [
    { op: "Sub", consts: ["mean"] }, { op: "Div", consts: ["std"] }, { op: "Reshape", consts: ["shape"] },
    { op: "Gemm", consts: ["W", "C"], attrs: [attrFloat("alpha", 0.5), attrFloat("beta", 2)] },
  ], [floats("std", [], [std]), int64s("shape", [1, -1]), raw("W", [18, 4], wg), raw("C", [1, 4], cg)], [constNode]);
  const file = decodeOnnx(bytes);
  t.deepEqual(file.architecture.layers.map((l) => l.type), ["normalize", "flatten", "dense"]);
  t.deepEqual(file.architecture.layers[0], { type: "normalize", mean: mean.map(Math.fround), std: [0.5] });
  const m = importOnnx(bytes, { arena: testArena() });
  const x = Float64Array.from(uniformArray(18, 9, 0, 1), Math.fround);
  const z = x.map((v, i) => (v - Math.fround(mean[Math.floor(i / 9)])) / std);
  const wf = Float32Array.from(wg).map((v) => 0.5 * v);
  const want = affine(z, wf, Float32Array.from(cg).map((v) => 2 * v), 18, 4);
  close(t, runForward(m, x, 1), want, 1e-6, "sub/div/gemm");

  // c − x then Div: one layer with std −d; x + c: mean −c; Div first: two layers.
  const flip = decodeOnnx(graph(["N", 3], [
    { op: "Sub", consts: ["c"], at: 1 }, { op: "Div", consts: ["d"] }, { op: "Add", consts: ["c"] }, { op: "Gemm", consts: ["W"], attrs: [attrInt("transB", 1)] },
  ], [floats("c", [3], [1, 2, 3]), floats("d", [1], [4]), floats("W", [2, 3], [1, 0, 0, 0, 1, 0])]));
  t.deepEqual(flip.architecture.layers, [
    { type: "normalize", mean: [1, 2, 3], std: [-4] },
    { type: "normalize", mean: [-1, -2, -3], std: [1] },
    { type: "dense", in: 3, out: 2 },
  ]);
  const divFirst = decodeOnnx(graph(["N", 2], [{ op: "Div", consts: ["d"] }, { op: "Sub", consts: ["c"] }, { op: "MatMul", consts: ["W"] }],
    [floats("d", [], [2]), floats("c", [], [1]), floats("W", [2, 1], [1, 1])]));
  t.deepEqual(divFirst.architecture.layers.slice(0, 2), [{ type: "normalize", mean: [0], std: [2] }, { type: "normalize", mean: [1], std: [1] }]);
});

test("Conv, AveragePool, a zero Pad, Flatten, Identity and Dropout import as their layers", (t) => {
  const w = uniformArray(3 * 2 * 9, 4);
  const b = uniformArray(3, 5);
  const bytes = graph(["N", 2, 6, 6], [
    { op: "Conv", consts: ["w", "b"], attrs: [attrInts("kernel_shape", [3, 3]), attrInts("pads", [1, 1, 1, 1]), attrInts("strides", [1, 1])] },
    { op: "Relu" }, { op: "Pad", consts: ["pads"] }, { op: "AveragePool", attrs: [attrInts("kernel_shape", [2, 2]), attrInts("strides", [2, 2])] },
    { op: "Identity" }, { op: "Dropout" }, { op: "Flatten" }, { op: "Gemm", consts: ["W"], attrs: [attrInt("transB", 1)] },
  ], [raw("w", [3, 2, 3, 3], w), raw("b", [3], b), int64s("pads", [0, 0, 0, 0, 0, 0, 0, 0]), raw("W", [2, 27], uniformArray(54, 6))]);
  t.deepEqual(decodeOnnx(bytes).architecture.layers, [
    { type: "conv2d", inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1 }, { type: "relu" },
    { type: "avgpool2d", kernel: 2, stride: 2 }, { type: "flatten" }, { type: "dense", in: 27, out: 2 },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Errors

const W4 = floats("W", [4, 2], new Array(8).fill(0.5));

test("an unsupported operator is named with its node", (t) => {
  const bytes = graph(["N", 4], [{ op: "MatMul", consts: ["W"] }, { op: "Sigmoid", name: "act1" }], [W4]);
  t.throws(() => decodeOnnx(bytes, "net.onnx"), { message: "net.onnx: unsupported ONNX operator 'Sigmoid' (node 'act1')" });
  const custom = graph(["N", 4], [{ op: "MatMul", consts: ["W"] }], [W4]);
  const m = onnx.ModelProto.decode(custom);
  (m.graph as Onnx.GraphProto).node[0].domain = "com.microsoft";
  t.throws(() => decodeOnnx(onnx.ModelProto.encode(m).finish()), { message: /unsupported ONNX operator 'com\.microsoft\.MatMul'/ });
});

test("unsupported parameters and graph shapes are one-line errors", (t) => {
  const convW = raw("w", [2, 2, 3, 3], new Array(36).fill(0.1));
  const conv = (attrs: Onnx.IAttributeProto[], w = convW) => graph(["N", 2, 5, 5], [{ op: "Conv", consts: ["w"], attrs }, { op: "Flatten" }], [w]);
  const cases: [Uint8Array, RegExp][] = [
    [conv([attrInt("group", 2)]), /group 2 is not supported/],
    [conv([attrInts("pads", [1, 0, 1, 0])]), /pads \[1,0,1,0\] must be four equal/],
    [conv([attrInts("dilations", [2, 2])]), /dilations \[2,2\] are not supported/],
    [conv([attrInts("strides", [1, 2])]), /strides \[1,2\] must be two equal values/],
    [conv([], raw("w", [2, 2, 3, 1], new Array(12).fill(0.1))), /kernel 3×1 is not square/],
    [conv([{ name: "auto_pad", type: AT.STRING, s: Buffer.from("SAME_UPPER") }]), /auto_pad SAME_UPPER is not supported/],
    [graph(["N", 2, 4, 4], [{ op: "AveragePool", attrs: [attrInts("kernel_shape", [2, 2]), attrInts("pads", [1, 1, 1, 1])] }, { op: "Flatten" }], []), /padded average pooling/],
    [graph(["N", 2, 4, 4], [{ op: "Flatten", attrs: [attrInt("axis", 2)] }], []), /axis 2 is not supported/],
    [graph(["N", 2, 4, 4], [{ op: "Reshape", consts: ["s"] }], [int64s("s", [2, 16])]), /target shape \[2,16\] is not one flat vector/],
    [graph(["N", 2, 4, 4], [{ op: "Gemm", consts: ["W"] }], [W4]), /Gemm\): needs a flat input, got \[2,4,4\]/],
    [graph(["N", 4], [{ op: "Gemm", consts: ["W"], attrs: [attrInt("transA", 1)] }], [W4]), /transA=1 is not supported/],
    [graph(["N", 3], [{ op: "MatMul", consts: ["W"] }], [W4]), /takes 4 inputs, the activation has 3/],
    [graph(["N", 4], [{ op: "Div", consts: ["W"], at: 1 }], [W4]), /dividing by the activation is not affine/],
    [graph(["N", 4], [{ op: "Sub", consts: ["c"] }, { op: "MatMul", consts: ["W"] }], [floats("c", [2, 2], [1, 2, 3, 4]), W4]), /not one value or one per channel of \[4\]/],
    [graph(["N", 4], [{ op: "MatMul", consts: ["V"] }], [W4]), /node 'matmul0' \(MatMul\): reads 'V', which no earlier node produces/],
    [graph(["N", 4], [{ op: "MatMul", consts: ["x"] }], []), /reads the activation twice/],
    [graph(["N", 4, 4, 4, 4], [{ op: "Relu" }], []), /rank 5/],
    [graph([7, 4], [{ op: "MatMul", consts: ["W"] }], [W4]), /batch dimension 7/],
    [graph(["N", "D"], [{ op: "MatMul", consts: ["W"] }], [W4]), /dimension 1 must be a fixed positive size, got 'D'/],
    [graph(["N", 2, 4, 4], [{ op: "Relu" }], []), /output must be a vector per sample, got \[2,4,4\]/],
    [graph(["N", 4], [{ op: "MatMul", consts: ["W"] }], [{ ...W4, dataType: onnx.TensorProto.DataType.FLOAT16 }]), /data type FLOAT16/],
    [graph(["N", 4], [{ op: "MatMul", consts: ["W"] }], [floats("W", [4, 2], [1, 2, 3])]), /float_data holds 3 values, shape \[4,2\] needs 8/],
    [graph(["N", 4], [{ op: "MatMul", consts: ["W"] }], [raw("W", [4, 3], new Array(8).fill(1))]), /raw_data holds 32 bytes, shape \[4,3\] needs 48/],
    [graph(["N", 4], [{ op: "MatMul", consts: ["W"] }], [{ ...W4, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL }]), /external file/],
    [graph(["N", 4], [{ op: "MatMul", consts: ["W"] }], [floats("W", [4, 2], [1, 2, 3, 4, 5, 6, 7, NaN])]), /non-finite weight NaN/],
  ];
  for (const [bytes, re] of cases) {
    const e = t.throws(() => decodeOnnx(bytes, "f.onnx"));
    t.regex(e?.message ?? "", re);
    t.true(e?.message.startsWith("f.onnx: ") && !e.message.includes("\n"), e?.message);
  }
  // A skip connection (a node reading an earlier activation) is not a chain.
  const branch = onnx.ModelProto.decode(graph(["N", 4], [{ op: "Relu" }, { op: "Relu" }], []));
  (branch.graph as Onnx.GraphProto).node[1].input = ["x"];
  t.throws(() => decodeOnnx(onnx.ModelProto.encode(branch).finish()), { message: /reads 'x', an earlier activation; only chain-shaped graphs/ });
  const twoInputs = onnx.ModelProto.decode(graph(["N", 4], [{ op: "Relu" }], []));
  (twoInputs.graph as Onnx.GraphProto).input.push(vi("x2", ["N", 4]));
  t.throws(() => decodeOnnx(onnx.ModelProto.encode(twoInputs).finish()), { message: /exactly one data input.*found 2: 'x', 'x2'/ });
});

test("truncated, garbage and hostile bytes are one-line errors, never crashes", (t) => {
  const good = exportOnnx({ architecture: architecture("cnn-small", [1, 28, 28], 10), params: model(architecture("cnn-small", [1, 28, 28], 10), 1).params.f32 });
  for (const cut of [0, 1, 7, 100, 1000, Math.floor(good.length / 2), good.length - 3, good.length - 1]) {
    const e = t.throws(() => decodeOnnx(good.subarray(0, cut), "cut.onnx"));
    t.regex(e?.message ?? "", /^cut\.onnx: /);
    t.false(e?.message.includes("\n"));
  }
  t.throws(() => decodeOnnx(Buffer.from("this is not a protobuf at all"), "g"), { message: /^g: not a valid ONNX model/ });
  t.throws(() => decodeOnnx(new Uint8Array(0), "e"), { message: "e: empty file" });
  // A field length far past the end of the buffer.
  t.throws(() => decodeOnnx(Uint8Array.from([0x3a, 0xff, 0xff, 0xff, 0xff, 0x07, 1, 2]), "h"), { message: /^h: not a valid ONNX model \(index out of range/ });
  // Graphs nested in attributes thousands deep: the decoder's recursion fails cleanly.
  const len = (n: number) => {
    const b: number[] = [];
    do {
      b.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>>= 7;
    } while (n > 0);
    return Buffer.from(b);
  };
  let inner = Buffer.alloc(0);
  for (let i = 0; i < 6000; i++) {
    const attr = Buffer.concat([Buffer.of(0x32), len(inner.length), inner]); // AttributeProto.g (field 6)
    const node = Buffer.concat([Buffer.of(0x2a), len(attr.length), attr]); // NodeProto.attribute (field 5)
    inner = Buffer.concat([Buffer.of(0x0a), len(node.length), node]); // GraphProto.node (field 1)
  }
  const deep = Buffer.concat([Buffer.of(0x3a), len(inner.length), inner]);
  const e = t.throws(() => decodeOnnx(deep, "deep"));
  t.regex(e?.message ?? "", /^deep: /);
  // Dimensions whose product is astronomically large are refused before any allocation.
  const huge = graph(["N", 4], [{ op: "MatMul", consts: ["W"] }], [{ name: "W", dims: [1 << 30, 1 << 30], dataType: FLOAT, rawData: new Uint8Array(8) }]);
  t.throws(() => decodeOnnx(huge, "huge"), { message: /^huge: initializer 'W' has more than 134217728 elements \(limit\)/ });
  const neg = graph(["N", 4], [{ op: "MatMul", consts: ["W"] }], [{ name: "W", dims: [-4, 2], dataType: FLOAT, rawData: new Uint8Array(8) }]);
  t.throws(() => decodeOnnx(neg, "neg"), { message: /negative dimension -4/ });
  const far = graph(["N", 4], [{ op: "MatMul", consts: ["W"] }], [{ name: "W", dims: [2 ** 60, 2], dataType: FLOAT }]);
  t.throws(() => decodeOnnx(far, "far"), { message: /out of range|more than/ });
});

test("size limits: file bytes, tensor elements, parameters and nodes", (t) => {
  const arch = architecture("mlp", [1, 28, 28], 10);
  const bytes = exportOnnx({ architecture: arch, params: model(arch, 2).params.f32 });
  const lim = (o: Partial<OnnxLimits>): OnnxLimits => ({ ...ONNX_LIMITS, ...o });
  t.throws(() => decodeOnnx(bytes, "m", lim({ maxBytes: 1000 })), { message: `m: ONNX file is ${bytes.length} bytes (limit 1000)` });
  t.throws(() => decodeOnnx(bytes, "m", lim({ maxTensorElements: 100_000 })), { message: /m: initializer 'layer1\.weight' has more than 100000 elements \(limit\); shape \[256,784\]/ });
  t.throws(() => decodeOnnx(bytes, "m", lim({ maxParams: 200_000 })), { message: "m: 269322 parameters (limit 200000)" });
  t.throws(() => decodeOnnx(bytes, "m", lim({ maxNodes: 3 })), { message: "m: graph has 6 nodes (limit 3)" });
  t.notThrows(() => decodeOnnx(bytes, "m", lim({ maxBytes: bytes.length, maxTensorElements: 256 * 784, maxParams: 269322, maxNodes: 6 })));
});

test("export refuses what ONNX export cannot express and checks the parameter count", (t) => {
  const arch: Architecture = { name: "x", inputShape: [4], layers: [{ type: "dense", in: 4, out: 2 } as LayerSpec] };
  t.throws(() => exportOnnx({ architecture: arch, params: new Float32Array(3) }), { message: /parameter count mismatch: architecture needs 10, got 3/ });
});

test("files: .onnx dispatch next to .bwk, the size checked before reading, one-line errors naming the path", (t) => {
  const dir = tmp(t);
  const arch = architecture("mlp", [1, 28, 28], 10);
  const params = model(arch, 5).params.f32.slice();
  const onnxPath = join(dir, "m.onnx");
  const bwkPath = join(dir, "m.bwk");
  writeFileSync(onnxPath, exportOnnx({ architecture: arch, params }));
  writeFileSync(bwkPath, encodeModel({ architecture: arch, params }));
  const a = loadModelFile(onnxPath);
  const b = loadModelFile(bwkPath);
  t.deepEqual(a.architecture, b.architecture);
  t.is(a.weightsHash, b.weightsHash);
  t.is(a.meta?.importedFrom, "onnx");
  t.throws(() => loadOnnx(onnxPath, { ...ONNX_LIMITS, maxBytes: 4096 }), { message: /m\.onnx: ONNX file is \d+ bytes \(limit 4096\)$/ });
  t.throws(() => loadModelFile(join(dir, "missing.onnx")), { message: /missing\.onnx: cannot read model \(no such file\)$/ });
  writeFileSync(join(dir, "junk.onnx"), "not a model");
  t.throws(() => loadModelFile(join(dir, "junk.onnx")), { message: /junk\.onnx: not a valid ONNX model/ });
});

test("export command: .bwk → .onnx → .bwk keeps the weights (same hash); info reads .onnx; bad --out is a usage error", async (t) => {
  const { bulwark, json, failsWith } = await import("./helpers/cli.js");
  const { saveModel } = await import("../src/io/bwk.js");
  const dir = tmp(t);
  const m = new Model(architecture("mlp")).init(3);
  const bwk = join(dir, "m.bwk");
  saveModel(bwk, { architecture: m.arch, params: Float32Array.from(m.params.f32) });
  const onnxOut = json(t, await bulwark(["export", "--model", bwk, "--out", join(dir, "m.onnx"), "--json"]));
  t.is(onnxOut.format, "onnx");
  const back = json(t, await bulwark(["export", "--model", join(dir, "m.onnx"), "--out", join(dir, "back.bwk"), "--json"]));
  t.is(back.weightsHash, onnxOut.weightsHash);
  const info = json(t, await bulwark(["info", join(dir, "back.bwk"), "--json"]));
  t.is(info.weightsHash, onnxOut.weightsHash);
  t.is(json(t, await bulwark(["info", join(dir, "m.onnx"), "--json"])).parameterCount, m.params.length);
  failsWith(t, await bulwark(["export", "--model", bwk, "--out", join(dir, "m.txt")]), 1, /--out must end in \.onnx or \.bwk/, "bad --out");
});
