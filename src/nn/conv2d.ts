// 2-D convolution, NCHW, square kernel, W stored [Cout, Cin, K, K] as in PyTorch and ONNX.
// Two engines (assembly/conv.ts): 4×4 kernels with Cout % 8 == 0 run as an implicit GEMM
// over a zero-padded copy of the input (no im2col matrix); other shapes use im2col + gemm.
// Both produce output rows [B·P, Cout] that one transpose turns into NCHW.
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
  /** Implicit-GEMM engine applies (4-wide kernel, whole 8-channel panels). */
  private readonly direct: boolean;
  private readonly hp: number;
  private readonly wp: number;
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
    this.direct = kernel === 4 && outChannels % 8 === 0;
    this.hp = h + 2 * padding;
    this.wp = w + 2 * padding;
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
    const rows = batch * this.plane * this.outChannels;
    if (this.direct) {
      // forward: output rows + packed weights; backward: dy rows + the padded input gradient
      return Math.max(rows + this.ckk * this.outChannels, rows + batch * this.inShape[0] * this.hp * this.wp) + 16;
    }
    // [B·P, Cout] rows (forward output / backward dy) + the [B·P, CKK] input-gradient patches.
    return rows + batch * this.plane * this.ckk + 16;
  }

  cacheFloats(batch: number): number {
    // Kept from forward for the weight gradient: the padded input and its offset tables
    // (direct engine), or the im2col patches.
    if (this.direct) return batch * this.inShape[0] * this.hp * this.wp + this.ckk + batch * this.plane + 16;
    return batch * this.plane * this.ckk;
  }

  /** Regions of the direct engine's cache: padded input, patch offsets, pixel bases. */
  private directCache(cache: number, batch: number): { xp: number; off: number; base: number } {
    const xp = cache;
    const off = xp + batch * this.inShape[0] * this.hp * this.wp * 4;
    return { xp, off, base: off + this.ckk * 4 };
  }

  private im2col(ctx: Ctx, x: number, col: number, batch: number): void {
    const [c, h, w] = this.inShape;
    ctx.k.im2colRows(x, col, batch, c, h, w, this.kernel, this.kernel, this.stride, this.padding, this.oh, this.ow);
  }

  forward(ctx: Ctx, x: number, y: number, batch: number, cache: number): void {
    const { k } = ctx;
    const rowsN = batch * this.plane;
    if (this.direct) {
      const [c, h, w] = this.inShape;
      const { xp, off, base } = this.directCache(cache, batch);
      const rows = ctx.scratch;
      const wt = rows + rowsN * this.outChannels * 4;
      k.padPlanes(x, xp, batch * c, h, w, this.padding);
      k.convTables(off, base, batch, c, this.hp, this.wp, this.kernel, this.kernel, this.stride, this.oh, this.ow);
      k.packConvWeights(this.w, wt, this.outChannels, this.ckk);
      k.convForwardDirect(xp, wt, this.b, rows, rowsN, this.outChannels, this.ckk, off, base);
      k.transposeBatch(rows, y, batch, this.plane, this.outChannels);
      return;
    }
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
    if (this.direct) {
      const [c, h, w] = this.inShape;
      const { xp, off, base } = this.directCache(cache, batch);
      if (wgrad !== WGRAD.skip) {
        const acc = wgrad === WGRAD.add ? 1 : 0;
        k.convWeightGradDirect(xp, dyRows, this.gw, rowsN, this.outChannels, this.ckk, off, base, acc);
        k.sumChannels(dy, this.gb, batch, this.outChannels, this.plane, acc);
      }
      if (dx !== 0) {
        const dxp = dcol; // the padded input gradient takes the patches' place
        const planes = batch * c;
        ctx.rt.f32(dxp, planes * this.hp * this.wp).fill(0);
        k.convInputGradDirect(dyRows, this.w, dxp, rowsN, this.outChannels, this.ckk, off, base);
        k.unpadPlanes(dxp, dx, planes, h, w, this.padding);
      }
      return;
    }
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
