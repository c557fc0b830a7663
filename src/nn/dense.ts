// Fully connected layer y = x·Wᵀ + b, W stored [out, in] as in PyTorch and ONNX Gemm.
import { WGRAD, type Ctx, type Layer, type ParamShape, type Shape, type WGrad } from "./layer.js";
import type { Stream } from "../core/random.js";

export class Dense implements Layer {
  readonly spec;
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly paramCount: number;
  readonly aliasesInput = false;
  private w = 0;
  private b = 0;
  private gw = 0;
  private gb = 0;

  constructor(readonly inF: number, readonly outF: number) {
    this.spec = { type: "dense" as const, in: inF, out: outF };
    this.inShape = [inF];
    this.outShape = [outF];
    this.paramCount = inF * outF + outF;
  }

  paramShapes(): ParamShape[] {
    return [{ name: "weight", shape: [this.outF, this.inF] }, { name: "bias", shape: [this.outF] }];
  }

  bind(params: number, grads: number): void {
    this.w = params;
    this.b = params + this.inF * this.outF * 4;
    this.gw = grads;
    this.gb = grads + this.inF * this.outF * 4;
  }

  init(params: Float32Array, rng: Stream): void {
    // PyTorch's default: U(−1/√fan_in, 1/√fan_in) for weights and bias.
    const bound = 1 / Math.sqrt(this.inF);
    for (let i = 0; i < params.length; i++) params[i] = (2 * rng.next() - 1) * bound;
  }

  scratchFloats(): number {
    return 0;
  }

  cacheFloats(): number {
    return 0;
  }

  forward(ctx: Ctx, x: number, y: number, batch: number): void {
    const { k } = ctx;
    k.gemm(0, 1, batch, this.outF, this.inF, x, this.inF, this.w, this.inF, y, this.outF, 0, ctx.gemmWork);
    k.biasAddRows(y, this.b, batch, this.outF);
  }

  backward(ctx: Ctx, x: number, _y: number, dy: number, dx: number, batch: number, wgrad: WGrad): void {
    const { k } = ctx;
    if (wgrad !== WGRAD.skip) {
      const acc = wgrad === WGRAD.add ? 1 : 0;
      k.gemm(1, 0, this.outF, this.inF, batch, dy, this.outF, x, this.inF, this.gw, this.inF, acc, ctx.gemmWork);
      k.sumRows(dy, this.gb, batch, this.outF, acc);
    }
    if (dx !== 0) k.gemm(0, 0, batch, this.inF, this.outF, dy, this.outF, this.w, this.inF, dx, this.inF, 0, ctx.gemmWork);
  }
}
