// ONNX export: a bulwark model as an opset-13 ONNX graph (Gemm, Conv, Relu, Flatten,
// AveragePool, Sub+Div for normalisation) with float32 weights in raw_data, input
// [N, ...inputShape] with a symbolic batch N. Other tools (onnxruntime, VNN-COMP verifiers)
// can then run or verify what bulwark trained, and src/io/onnx.ts reads it back exactly.
// Normalisation constants are written as float32 (ONNX Sub/Div need the input's type).
import onnxProto from "onnx-proto";
import type { onnx as Onnx } from "onnx-proto";
import { writeFileAtomic } from "../core/files.js";
import type { Architecture } from "../nn/architectures.js";
import { buildLayers } from "../nn/build.js";
import type { ModelFile } from "./bwk.js";

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const AT = onnx.AttributeProto.AttributeType;

function tensor(name: string, dims: number[], values: ArrayLike<number>): Onnx.ITensorProto {
  const f = Float32Array.from(values);
  const bytes = new Uint8Array(f.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < f.length; i++) view.setFloat32(4 * i, f[i], true);
  return { name, dims, dataType: FLOAT, rawData: bytes };
}

const ints = (name: string, v: number[]): Onnx.IAttributeProto => ({ name, type: AT.INTS, ints: v });
const int = (name: string, v: number): Onnx.IAttributeProto => ({ name, type: AT.INT, i: v });

function valueInfo(name: string, dims: (number | string)[]): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** The model (architecture + flat parameters) as ONNX bytes. */
export function exportOnnx(file: Pick<ModelFile, "architecture" | "params">, opts: { producerVersion?: string } = {}): Uint8Array {
  const arch: Architecture = file.architecture;
  const layers = buildLayers(arch.inputShape, arch.layers);
  const total = layers.reduce((s, l) => s + l.paramCount, 0);
  if (total !== file.params.length) throw new Error(`parameter count mismatch: architecture needs ${total}, got ${file.params.length}`);
  const nodes: Onnx.INodeProto[] = [];
  const inits: Onnx.ITensorProto[] = [];
  let current = "input";
  let off = 0;
  const node = (op: string, inputs: string[], attribute: Onnx.IAttributeProto[] = []): void => {
    const name = `${op.toLowerCase()}_${nodes.length}`;
    const out = `${name}_out`;
    nodes.push({ opType: op, name, input: [current, ...inputs], output: [out], attribute });
    current = out;
  };
  layers.forEach((l, i) => {
    const spec = l.spec;
    const p = file.params.subarray(off, off + l.paramCount);
    off += l.paramCount;
    const prefix = `layer${i}`;
    switch (spec.type) {
      case "dense": {
        inits.push(tensor(`${prefix}.weight`, [spec.out, spec.in], p.subarray(0, spec.in * spec.out)));
        inits.push(tensor(`${prefix}.bias`, [spec.out], p.subarray(spec.in * spec.out)));
        node("Gemm", [`${prefix}.weight`, `${prefix}.bias`], [int("transB", 1)]);
        break;
      }
      case "conv2d": {
        const nw = spec.outChannels * spec.inChannels * spec.kernel * spec.kernel;
        inits.push(tensor(`${prefix}.weight`, [spec.outChannels, spec.inChannels, spec.kernel, spec.kernel], p.subarray(0, nw)));
        inits.push(tensor(`${prefix}.bias`, [spec.outChannels], p.subarray(nw)));
        const pd = spec.padding;
        node("Conv", [`${prefix}.weight`, `${prefix}.bias`], [
          ints("kernel_shape", [spec.kernel, spec.kernel]), ints("strides", [spec.stride, spec.stride]), ints("pads", [pd, pd, pd, pd]),
        ]);
        break;
      }
      case "relu":
        node("Relu", []);
        break;
      case "flatten":
        if (l.inShape.length > 1) node("Flatten", [], [int("axis", 1)]);
        break;
      case "avgpool2d":
        node("AveragePool", [], [ints("kernel_shape", [spec.kernel, spec.kernel]), ints("strides", [spec.stride, spec.stride])]);
        break;
      case "normalize": {
        // Constants broadcast against [N, ...inShape] from the right: [C, 1, 1] for images,
        // [D] for vectors, [1] for one value.
        const dims = (v: number[]) => (v.length === 1 ? [1] : [v.length, ...l.inShape.slice(1).map(() => 1)]);
        inits.push(tensor(`${prefix}.mean`, dims(spec.mean), spec.mean));
        inits.push(tensor(`${prefix}.std`, dims(spec.std), spec.std));
        node("Sub", [`${prefix}.mean`]);
        node("Div", [`${prefix}.std`]);
        break;
      }
      default:
        throw new Error(`ONNX export does not support layer type '${(spec as { type: string }).type}'`);
    }
  });
  if (nodes.length === 0) throw new Error("ONNX export: the model computes nothing (no operators)");
  nodes[nodes.length - 1].output = ["output"];
  current = "output";
  const out = layers[layers.length - 1].outShape;
  const model: Onnx.IModelProto = {
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "bulwark",
    producerVersion: opts.producerVersion ?? "",
    graph: {
      name: arch.name,
      node: nodes,
      initializer: inits,
      input: [valueInfo("input", ["N", ...arch.inputShape])],
      output: [valueInfo(current, ["N", ...out])],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** Writes the model as an .onnx file (atomically). */
export function saveOnnx(path: string, file: Pick<ModelFile, "architecture" | "params">): void {
  writeFileAtomic(path, exportOnnx(file));
}
