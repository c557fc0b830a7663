// What every layer is. A layer owns no memory: its parameters are a view into the model's
// one flat buffer (bound by the model), its activations live in a Plan, and scratch space
// comes from the context. Batch-major NCHW throughout, float32.
import type { Kernels } from "../core/kernels.js";
import type { Runtime } from "../core/runtime.js";
import type { Stream } from "../core/random.js";

export type Shape = number[];

export type LayerSpec =
  | { type: "dense"; in: number; out: number }
  | { type: "conv2d"; inChannels: number; outChannels: number; kernel: number; stride: number; padding: number }
  | { type: "relu" }
  | { type: "flatten" }
  | { type: "avgpool2d"; kernel: number; stride: number }
  /** y = (x − mean[c]) / std[c] per channel (one value, or one per channel); normalize.ts. */
  | { type: "normalize"; mean: number[]; std: number[] };

/** Per-call resources: the kernels, the GEMM packing area and a scratch region. */
export interface Ctx {
  rt: Runtime;
  k: Kernels;
  /** gemmWorkBytes() bytes for GEMM packing. */
  gemmWork: number;
  /** Scratch of at least max(layer.scratchFloats(batch)) floats. */
  scratch: number;
}

/** What backward does with weight gradients: attacks need none, shards add them up. */
export const WGRAD = { skip: 0, write: 1, add: 2 } as const;
export type WGrad = (typeof WGRAD)[keyof typeof WGRAD];

export interface ParamShape {
  name: string;
  shape: number[];
}

export interface Layer {
  readonly spec: LayerSpec;
  readonly inShape: Shape;
  readonly outShape: Shape;
  /** Floats this layer takes in the model's flat parameter buffer. */
  readonly paramCount: number;
  /** Output aliases input (no copy, no work): Flatten. */
  readonly aliasesInput: boolean;
  /** Named parameter tensors in buffer order (for model files and importers). */
  paramShapes(): ParamShape[];
  /** Point the layer at its slice of the parameter and gradient buffers (byte addresses). */
  bind(params: number, grads: number): void;
  /** Seeded initialisation of this layer's parameters. */
  init(params: Float32Array, rng: Stream): void;
  /** Scratch floats forward/backward need at this batch size (free again after the call). */
  scratchFloats(batch: number): number;
  /** Floats kept from forward for backward (e.g. im2col patches); 0 for none. */
  cacheFloats(batch: number): number;
  /** y = layer(x). `cache` is this layer's own region of cacheFloats(batch) floats. */
  forward(ctx: Ctx, x: number, y: number, batch: number, cache: number): void;
  /**
   * Given dL/dy: when dx ≠ 0 write dL/dx; handle dL/dθ as `wgrad` says (skip it, write it,
   * or add it into the gradient slice). x, y and cache are from the last forward call.
   */
  backward(ctx: Ctx, x: number, y: number, dy: number, dx: number, batch: number, wgrad: WGrad, cache: number): void;
  /**
   * Interval bound propagation: [lo, hi] elementwise on the input → on the output.
   * Slot filled by the certification issue.
   */
  intervalForward?(ctx: Ctx, lo: number, hi: number, outLo: number, outHi: number, batch: number): void;
  /**
   * Linear-relaxation back-substitution (CROWN): maps linear bounds expressed on this
   * layer's output onto its input. Slot filled by the certification issue.
   */
  backSubstitute?(ctx: Ctx, ...args: number[]): void;
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
