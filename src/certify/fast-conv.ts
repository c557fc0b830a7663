// Conv2d layers of the batched float32 bound path (fast.ts): the layer's constants in WASM
// memory, the batched convolution of IBP (centre with W and the bias, radius/magnitude/error
// with |W|) and the batched transposed convolution of CROWN back-substitution (coefficient
// rows A, rows × cout·oh·ow → A·W, rows × cin·h·w, over the full planes or over windows of
// them), both on the kernels of assembly/conv.ts (the layers' own engines: implicit GEMM where
// the shape allows, else im2col/col2im around the GEMM): never a dense matrix of the
// convolution. fast.ts's header has the rounding argument; the facts it needs from here:
//  • forward: each output is a float32 sum of the ckk = cin·k·k products of its window (taps
//    in the padding multiply an exact 0 and add nothing) and then the bias: ≤ ckk + 1 terms,
//    in either engine.
//  • transposed: each input entry is a float32 sum of at most backTerms = cout·⌈k/s⌉² products
//    (cout products per patch entry, summed by the GEMM or the implicit-GEMM tile; then the
//    ≤ ⌈k/s⌉² patch entries that land on one input pixel, added by col2im or by the tile's
//    read-modify-write into a zeroed gradient), in some order: error ≤ γ_backTerms·(|A|·|W|)
//    entrywise. A window computes the same sums for the positions it holds.
import type { Arena } from "../core/arena.js";
import type { Kernels } from "../core/kernels.js";
import type { FastStats } from "./fast.js";

/** The default float32 working set of one conv call's temporaries (patches, pixel-major rows, padded planes). */
export const CONV_CHUNK_FLOATS = 1 << 19;

export interface ConvL {
  kind: "conv";
  cin: number;
  h: number;
  wd: number;
  cout: number;
  k: number;
  stride: number;
  pad: number;
  oh: number;
  ow: number;
  /** oh·ow */
  plane: number;
  /** cin·k·k: products in each output's sum (its fan-in without the bias). */
  ckk: number;
  inSize: number;
  outSize: number;
  /** Terms in each entry of the transposed convolution: cout·⌈k/stride⌉². */
  backTerms: number;
  /** Byte addresses of W [cout, cin, k, k], |W|, b [cout], and b per output [cout·oh·ow]. */
  w: number;
  wAbs: number;
  b: number;
  bvec: number;
  bias: Float32Array;
  /**
   * The implicit-GEMM forward engine (cout a multiple of 8): W and |W| packed in panels of 8
   * output channels (packConvWeights), and cout zeros (the bias of |W|·x); 0 otherwise.
   */
  wt: number;
  wtAbs: number;
  zeros: number;
}

/** A conv2d layer's constants (|W| and the per-output bias are written into the arena). */
export function convLayer(k: Kernels, arena: Arena, inShape: number[], spec: { outChannels: number; kernel: number; stride: number; padding: number }, params: Float32Array): ConvL {
  const [cin, h, wd] = inShape;
  const { outChannels: cout, kernel, stride, padding: pad } = spec;
  const oh = Math.floor((h + 2 * pad - kernel) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - kernel) / stride) + 1;
  const ckk = cin * kernel * kernel;
  const nw = cout * ckk;
  const plane = oh * ow;
  const outSize = cout * plane;
  const wAbs = arena.bytes(nw * 4);
  k.absInto(params.byteOffset, wAbs, nw);
  const bias = params.subarray(nw, nw + cout);
  const bvec = arena.bytes(outSize * 4);
  const bv = arena.rt.f32(bvec, outSize);
  for (let co = 0; co < cout; co++) bv.fill(bias[co], co * plane, (co + 1) * plane);
  const per = Math.ceil(kernel / stride);
  let wt = 0;
  let wtAbs = 0;
  let zeros = 0;
  if (cout % 8 === 0) {
    wt = arena.bytes(nw * 4);
    wtAbs = arena.bytes(nw * 4);
    zeros = arena.bytes(cout * 4);
    k.packConvWeights(params.byteOffset, wt, cout, ckk);
    k.packConvWeights(wAbs, wtAbs, cout, ckk);
    arena.rt.f32(zeros, cout).fill(0);
  }
  return {
    kind: "conv", cin, h, wd, cout, k: kernel, stride, pad, oh, ow, plane, ckk,
    inSize: cin * h * wd, outSize, backTerms: cout * per * per,
    w: params.byteOffset, wAbs, b: bias.byteOffset, bvec, bias, wt, wtAbs, zeros,
  };
}

/**
 * y (batch × cout·oh·ow, NCHW) = conv(W, x) + b, or conv(|W|, x) with `abs` (no bias), for x
 * batch × cin·h·wd (byte addresses), in chunks of samples: implicit GEMM over a padded copy
 * (cout % 8 = 0), else im2col + GEMM (Wᵀ); then a transpose to NCHW. `scratch` is handed back
 * as it was.
 */
export function convForward(k: Kernels, scratch: Arena, op: ConvL, x: number, batch: number, y: number, abs: boolean, work: number, chunkFloats = CONV_CHUNK_FLOATS): void {
  const { cin, h, wd, cout, k: kk, stride, pad, oh, ow, plane, ckk, inSize, outSize } = op;
  const mark = scratch.mark();
  if (op.wt !== 0) {
    // Implicit GEMM over a zero-padded copy of the input (no patch matrix): rows [pixels, cout]
    // with the bias (zeros for |W|) added last, then NCHW.
    const hp = h + 2 * pad;
    const wp = wd + 2 * pad;
    const chunk = Math.min(batch, Math.max(1, Math.floor(chunkFloats / (cin * hp * wp + plane * (cout + 1)))));
    const xp = scratch.bytes(chunk * cin * hp * wp * 4);
    const rows = scratch.bytes(chunk * plane * cout * 4);
    const off = scratch.bytes(ckk * 4);
    const base = scratch.bytes(chunk * plane * 4);
    k.convTables(off, base, chunk, cin, hp, wp, kk, kk, stride, oh, ow);
    for (let s0 = 0; s0 < batch; s0 += chunk) {
      const bc = Math.min(chunk, batch - s0);
      k.padPlanes(x + s0 * inSize * 4, xp, bc * cin, h, wd, pad);
      k.convForwardDirect(xp, abs ? op.wtAbs : op.wt, abs ? op.zeros : op.b, rows, bc * plane, cout, ckk, off, base);
      k.transposeBatch(rows, y + s0 * outSize * 4, bc, plane, cout);
    }
    scratch.release(mark);
    return;
  }
  const per = Math.max(1, Math.floor(chunkFloats / (plane * (ckk + cout))));
  const chunk = Math.min(per, batch);
  const col = scratch.bytes(chunk * plane * ckk * 4);
  const rows = scratch.bytes(chunk * plane * cout * 4);
  for (let s0 = 0; s0 < batch; s0 += chunk) {
    const bc = Math.min(chunk, batch - s0);
    const yc = y + s0 * outSize * 4;
    k.im2colRows(x + s0 * inSize * 4, col, bc, cin, h, wd, kk, kk, stride, pad, oh, ow);
    k.gemm(0, 1, bc * plane, cout, ckk, col, ckk, abs ? op.wAbs : op.w, ckk, rows, cout, 0, work);
    k.transposeBatch(rows, yc, bc, plane, cout);
    if (!abs) k.biasAddChannels(yc, op.b, bc, cout, plane);
  }
  scratch.release(mark);
}

/**
 * The plane a transposed convolution maps from and to: the layer's own (oh × ow outputs, h × wd
 * inputs with its padding), or a window of it (wh × ww outputs → ((wh − 1)·s + k) × … inputs
 * with no padding: the window keeps the positions that fall in the padding, as zeros).
 */
export interface ConvGeom {
  h: number;
  wd: number;
  pad: number;
  oh: number;
  ow: number;
}

/** The window geometry of wh × ww outputs of op. */
export function windowGeom(op: ConvL, wh: number, ww: number): ConvGeom {
  return { h: (wh - 1) * op.stride + op.k, wd: (ww - 1) * op.stride + op.k, pad: 0, oh: wh, ow: ww };
}

/**
 * out (rows × cin·h·wd) = a·W for coefficient rows a (rows × cout·oh·ow): the transposed
 * convolution of each row (the layer's input gradient with a as output gradient), over the
 * layer's plane or a window of it (g). a and out must not overlap; `scratch` is handed back
 * as it was. Chunks of rows; two engines (assembly/conv.ts), the same sums either way:
 *  • 4-wide kernels (cin·k·k a multiple of 8): implicit GEMM, each pixel's cout coefficients
 *    times W scattered straight into a zeroed, padded input gradient (convInputGradDirect),
 *    then its interior;
 *  • others: pixel-major rows (transpose), GEMM with W, col2im.
 */
export function convTransposed(k: Kernels, scratch: Arena, op: ConvL, a: number, rows: number, out: number, work: number, stats?: FastStats, g: ConvGeom = op, chunkFloats = CONV_CHUNK_FLOATS): void {
  const { cin, cout, k: kk, stride, ckk } = op;
  const { h, wd, pad, oh, ow } = g;
  const plane = oh * ow;
  const inSize = cin * h * wd;
  const outSize = cout * plane;
  const mark = scratch.mark();
  if (kk === 4 && ckk % 8 === 0) {
    const hp = h + 2 * pad;
    const wp = wd + 2 * pad;
    const chunk = Math.min(rows, Math.max(1, Math.floor(chunkFloats / (plane * (cout + 1) + (pad > 0 ? cin * hp * wp : 0)))));
    const t = scratch.bytes(chunk * plane * cout * 4);
    const off = scratch.bytes(ckk * 4);
    const base = scratch.bytes(chunk * plane * 4);
    k.convTables(off, base, chunk, cin, hp, wp, kk, kk, stride, oh, ow);
    const dxp = pad > 0 ? scratch.bytes(chunk * cin * hp * wp * 4) : 0;
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const rc = Math.min(chunk, rows - r0);
      k.transposeBatch(a + r0 * outSize * 4, t, rc, cout, plane);
      const o = out + r0 * inSize * 4;
      const target = pad > 0 ? dxp : o;
      scratch.rt.f32(target, rc * cin * hp * wp).fill(0);
      const tg = stats ? performance.now() : 0;
      k.convInputGradDirect(t, op.w, target, rc * plane, cout, ckk, off, base);
      if (stats) {
        stats.gemmFlops += 2 * rc * plane * ckk * cout;
        stats.gemmMs += performance.now() - tg;
      }
      if (pad > 0) k.unpadPlanes(dxp, o, rc * cin, h, wd, pad);
    }
    scratch.release(mark);
    return;
  }
  const chunk = Math.min(rows, Math.max(1, Math.floor(chunkFloats / (plane * (ckk + cout)))));
  const t = scratch.bytes(chunk * plane * cout * 4);
  const dcol = scratch.bytes(chunk * plane * ckk * 4);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const rc = Math.min(chunk, rows - r0);
    k.transposeBatch(a + r0 * outSize * 4, t, rc, cout, plane);
    const tg = stats ? performance.now() : 0;
    k.gemm(0, 0, rc * plane, ckk, cout, t, cout, op.w, ckk, dcol, ckk, 0, work);
    if (stats) {
      stats.gemmFlops += 2 * rc * plane * ckk * cout;
      stats.gemmMs += performance.now() - tg;
    }
    k.col2imRows(dcol, out + r0 * inSize * 4, rc, cin, h, wd, kk, kk, stride, pad, oh, ow, 0);
  }
  scratch.release(mark);
}
