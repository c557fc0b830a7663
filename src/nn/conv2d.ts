// 2-D convolution, NCHW, square kernel, by im2col + one GEMM per batch (see assembly/conv.ts
// for the layout). W stored [Cout, Cin, K, K] as in PyTorch and ONNX.
import { WGRAD, type Ctx, type Layer, type ParamShape, type Shape, type WGrad } from "./layer.js";
import type { Stream } from "../core/random.js";

export class Conv2d implements Layer {
  readonly spec;
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly paramCount: number;
  readonly aliasesInput = false;
  private readonly oh: number;
  private readonly ow: number;
  private readonly ckk: number;
  private w = 0;
  private b = 0;
  private gw = 0;
  private gb = 0;

  constructor(
    inShape: Shape, readonly outChannels: number, readonly kernel: number,
    readonly stride = 1, readonly padding = 0,
  ) {
    if (inShape.length !== 3) throw new Error(`conv2d needs a [C,H,W] input, got [${inShape.join(",")}]`);
    const [c, h, w] = inShape;
    this.oh = Math.floor((h + 2 * padding - kernel) / stride) + 1;
    this.ow = Math.floor((w + 2 * padding - kernel) / stride) + 1;
    if (this.oh < 1 || this.ow < 1) throw new Error(`conv2d kernel ${kernel} does not fit a ${h}×${w} input`);
    this.ckk = c * kernel * kernel;
    this.inShape = [c, h, w];
    this.outShape = [outChannels, this.oh, this.ow];
    this.paramCount = outChannels * this.ckk + outChannels;
    this.spec = {
      type: "conv2d" as const, inChannels: c, outChannels, kernel, stride, padding,
    };
  }

  paramShapes(): ParamShape[] {
    const c = this.inShape[0];
    return [
      { name: "weight", shape: [this.outChannels, c, this.kernel, this.kernel] },
      { name: "bias", shape: [this.outChannels] },
    ];
  }

  bind(params: number, grads: number): void {
    const wBytes = this.outChannels * this.ckk * 4;
    this.w = params;
    this.b = params + wBytes;
    this.gw = grads;
    this.gb = grads + wBytes;
  }

  init(params: Float32Array, rng: Stream): void {
    const bound = 1 / Math.sqrt(this.ckk);
    for (let i = 0; i < params.length; i++) params[i] = (2 * rng.next() - 1) * bound;
  }

  private get plane(): number {
    return this.oh * this.ow;
  }

  scratchFloats(batch: number): number {
    // [B·P, Cout] rows (forward output / backward dy) + the [B·P, CKK] input-gradient patches.
    return batch * this.plane * (this.ckk + this.outChannels) + 16;
  }

  cacheFloats(batch: number): number {
    // The forward pass's im2col patches, reused by the weight gradient.
    return batch * this.plane * this.ckk;
  }

  private im2col(ctx: Ctx, x: number, col: number, batch: number): void {
    const [c, h, w] = this.inShape;
    ctx.k.im2colRows(x, col, batch, c, h, w, this.kernel, this.kernel, this.stride, this.padding, this.oh, this.ow);
  }

  forward(ctx: Ctx, x: number, y: number, batch: number, cache: number): void {
    const { k } = ctx;
    const rowsN = batch * this.plane;
    const col = cache;
    const rows = ctx.scratch;
    this.im2col(ctx, x, col, batch);
    k.gemm(0, 1, rowsN, this.outChannels, this.ckk, col, this.ckk, this.w, this.ckk, rows, this.outChannels, 0, ctx.gemmWork);
    k.transposeBatch(rows, y, batch, this.plane, this.outChannels);
    k.biasAddChannels(y, this.b, batch, this.outChannels, this.plane);
  }

  backward(ctx: Ctx, _x: number, _y: number, dy: number, dx: number, batch: number, wgrad: WGrad, cache: number): void {
    const { k } = ctx;
    const rowsN = batch * this.plane;
    const dyRows = ctx.scratch;
    const dcol = dyRows + rowsN * this.outChannels * 4;
    k.transposeBatch(dy, dyRows, batch, this.outChannels, this.plane);
    if (wgrad !== WGRAD.skip) {
      const acc = wgrad === WGRAD.add ? 1 : 0;
      k.gemm(1, 0, this.outChannels, this.ckk, rowsN, dyRows, this.outChannels, cache, this.ckk, this.gw, this.ckk, acc, ctx.gemmWork);
      k.sumChannels(dy, this.gb, batch, this.outChannels, this.plane, acc);
    }
    if (dx !== 0) {
      k.gemm(0, 0, rowsN, this.ckk, this.outChannels, dyRows, this.outChannels, this.w, this.ckk, dcol, this.ckk, 0, ctx.gemmWork);
      const [c, h, w] = this.inShape;
      k.col2imRows(dcol, dx, batch, c, h, w, this.kernel, this.kernel, this.stride, this.padding, this.oh, this.ow, 0);
    }
  }
}
