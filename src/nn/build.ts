// Layer specs → layers, with shape inference and a clear error for anything inconsistent.
import { AvgPool2d } from "./avgpool2d.js";
import { Conv2d } from "./conv2d.js";
import { Dense } from "./dense.js";
import { Flatten } from "./flatten.js";
import { sizeOf, type Layer, type LayerSpec, type Shape } from "./layer.js";
import { ReLU } from "./relu.js";
import { Normalize } from "./normalize.js";

export const LAYER_TYPES = ["dense", "conv2d", "relu", "flatten", "avgpool2d", "normalize"] as const;

function posInt(v: unknown, what: string, min = 1): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > 1 << 24) {
    throw new Error(`${what} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function buildLayer(spec: LayerSpec, inShape: Shape, index: number): Layer {
  const where = `layer ${index} (${(spec as { type?: unknown })?.type})`;
  if (!spec || typeof spec !== "object") throw new Error(`layer ${index}: not an object`);
  switch (spec.type) {
    case "dense": {
      const inF = posInt(spec.in, `${where}: in`);
      const outF = posInt(spec.out, `${where}: out`);
      if (sizeOf(inShape) !== inF || inShape.length !== 1) {
        throw new Error(`${where}: expects ${inF} inputs but receives shape [${inShape.join(",")}]`);
      }
      return new Dense(inF, outF);
    }
    case "conv2d": {
      const cin = posInt(spec.inChannels, `${where}: inChannels`);
      if (inShape.length !== 3 || inShape[0] !== cin) {
        throw new Error(`${where}: expects ${cin} input channels but receives shape [${inShape.join(",")}]`);
      }
      return new Conv2d(inShape, posInt(spec.outChannels, `${where}: outChannels`),
        posInt(spec.kernel, `${where}: kernel`), posInt(spec.stride, `${where}: stride`),
        posInt(spec.padding, `${where}: padding`, 0));
    }
    case "relu":
      return new ReLU(inShape);
    case "flatten":
      return new Flatten(inShape);
    case "avgpool2d":
      return new AvgPool2d(inShape, posInt(spec.kernel, `${where}: kernel`), posInt(spec.stride, `${where}: stride`));
    case "normalize":
      return new Normalize(inShape, spec, where);
    default:
      throw new Error(`layer ${index}: unknown layer type '${(spec as { type?: unknown }).type}' (known: ${LAYER_TYPES.join(", ")})`);
  }
}

export function buildLayers(inputShape: Shape, specs: LayerSpec[]): Layer[] {
  if (!Array.isArray(inputShape) || inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`input shape must be a list of positive integers, got ${JSON.stringify(inputShape)}`);
  }
  if (!Array.isArray(specs) || specs.length === 0) throw new Error("architecture has no layers");
  const layers: Layer[] = [];
  let shape = inputShape;
  specs.forEach((s, i) => {
    const layer = buildLayer(s, shape, i);
    layers.push(layer);
    shape = layer.outShape;
  });
  return layers;
}
