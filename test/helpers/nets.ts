// Small seeded networks for the bound tests: layer-spec builders and the nets several files check.
import type { Architecture } from "../../src/nn/architectures.js";
import type { LayerSpec } from "../../src/nn/layer.js";
import { Model } from "../../src/nn/model.js";

export const relu = { type: "relu" } as const;
export const flatten = { type: "flatten" } as const;
export const dense = (i: number, o: number): LayerSpec => ({ type: "dense", in: i, out: o });
export const conv = (ci: number, co: number, k: number, s: number, p: number): LayerSpec =>
  ({ type: "conv2d", inChannels: ci, outChannels: co, kernel: k, stride: s, padding: p });
export const pool = (k: number, s: number): LayerSpec => ({ type: "avgpool2d", kernel: k, stride: s });

/** A seeded net; scale multiplies every parameter (larger weights: more unstable ReLUs). */
export function net(inputShape: [number, number, number], layers: LayerSpec[], seed: number, scale = 1): Model {
  const m = new Model({ name: "t", inputShape, layers } as Architecture).init(seed);
  if (scale !== 1) for (let i = 0; i < m.paramCount; i++) m.params.f32[i] *= scale;
  return m;
}

export interface NetSpec {
  name: string;
  shape: [number, number, number];
  layers: LayerSpec[];
}

/** Two MLPs and a conv/pool net, small enough to check every corner of their input boxes. */
export const SMALL_NETS: NetSpec[] = [
  { name: "mlp 6-8-8-4", shape: [1, 2, 3], layers: [flatten, dense(6, 8), relu, dense(8, 8), relu, dense(8, 4)] },
  { name: "mlp 5-10-10-10-3", shape: [1, 1, 5], layers: [flatten, dense(5, 10), relu, dense(10, 10), relu, dense(10, 10), relu, dense(10, 3)] },
  {
    name: "cnn conv-relu-conv-relu-pool-dense", shape: [2, 6, 6],
    layers: [conv(2, 3, 3, 1, 1), relu, conv(3, 4, 3, 2, 1), relu, pool(2, 1), flatten, dense(16, 6), relu, dense(6, 3)],
  },
];
