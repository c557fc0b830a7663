// Batched float32 margin bounds (IBP, CROWN, CROWN-IBP) on the WASM kernels: the same bounds as
// bounds.ts marginBounds (same boxes, same folding of the margin spec into the last layer,
// same relaxations, same "unstable neurons only" refinement and the same float32-network
// rounding allowance), for Dense/Conv2d/ReLU/Flatten networks; other networks (pooling,
// normalisation layers) go to the float64 path of bounds.ts (fastPathSupport says which).
//
// Layout. Samples of a batch share every weight, so each layer is one GEMM over the batch:
// IBP in centre/radius form (c' = W·c + b, r' = |W|·r), and CROWN back-substitution with the
// coefficient rows of all samples stacked (rows × out)·W (out × in). ReLU relaxation (per
// sample), bias dots and the concretisation over the input box are row kernels
// (assembly/bounds.ts). Intermediate bounds back-substitute only IBP-unstable neurons (all
// neurons with `pure`), as bounds.ts propagate does. The widest product, through the first
// dense layer, skips each sample's stably inactive columns and, for the ±e_j rows of
// intermediate bounds, computes their shared stably-active part once (firstLayerProduct).
// The per-entry steps between the GEMMs are WASM kernels too (no per-entry JavaScript): the
// IBP radius and allowance (ibpRadius), float64 box → float32 centre/radius/magnitude
// (boxFromBounds), the ReLU relaxation (reluRelax), and the folded last layer (foldLast,
// foldedRows). They do the float64 steps with the same IEEE operations in the same order as
// the JavaScript they replaced (bit-identical; test/certify-fast.test.ts pins them to
// JavaScript references), so the analysis below did not change with them.
//
// Conv2d layers (fast-conv.ts) never become dense matrices. IBP runs the layer's own
// convolution kernels over the batch (centre with W and b, [radius; magnitude; error] with |W|);
// back-substitution runs the transposed convolution of the coefficient rows (the layer's input
// gradient, a GEMM-shaped kernel). The rows of a conv layer's intermediate bounds are zero
// outside the neuron's receptive field, so they live on windows (refineWindowed: rows grouped
// by sample and output position, each ReLU's slopes, each layer's error weights and the input
// box gathered once per group, zero in the padding), a few per cent of the full width on MNIST
// CNNs; rows that start at dense layers or the margins run on the full planes. Rows are cut
// into chunks of CHUNK_FLOATS floats (a sample's rows split across chunks when they must).
//
// Soundness of the float32 computation itself (on top of the allowance for the network's own
// float32 rounding). Every bound is a float32 computation whose error is bounded and subtracted
// (rounding32.ts: γ_n for an n-term sum, grow_n to undo the shrinkage of non-negative sums):
//  • The input box is bounds.ts inputBox's float64 box rounded outward to float32 (kernel
//    linfBox, ≤ one float32 step per edge); intermediate boxes are float64 (ibpRadius) and go
//    to float32 rounded outward (up32, in boxFromBounds).
//  • IBP step: c' = fl(W·c + b) is off by ≤ γ_{in+1}(|W|·|c| + |b|) ≤ γ_{in+1}(|W|·M + |b|),
//    M = max(|lo|, |hi|) ≥ |c|, and |W|·r ≤ grow·fl(|W|·r). So the sound radius is
//    grow·fl(|W|r) + γ_{in+1}(grow·fl(|W|M) + |b|); |W|·M is one more GEMM row block, and it is
//    also what the network allowance and the CROWN error terms below need.
//  • The folded last layer W_y − W_j, b_y − b_j is rounded to float32 (≤ u of each entry):
//    its IBP step uses γ_{in+3} to cover that. foldedRows sums its three products (W̃·c,
//    |W̃|·r, |W̃|·M) in float32 like the GEMM did, so the same bounds apply.
//  • CROWN keeps, per row, g(x) ≥ Ã·v + c − e for the computed Ã (float32), c and e (float64).
//    Through an affine layer, fl(Ã·W) errs by ≤ γ_out|Ã||W| entrywise and the bias dot by
//    ≤ γ_out|Ã||b|, so e += γ_{out+1}·Σ|Ã|·(|W|M + |b|) — a row kernel against the vector
//    |W|M + |b| of the IBP step (matrix-vector work, not another GEMM). Through a ReLU, a·au is
//    rounded (≤ u|a|, |z| ≤ M_z) and Σ a·bu is a float32 sum: e += γ_{n+1}·Σ_unstable |a|(M_z + bu).
//    The relaxation itself is rounded outward (au, bu up), so it stays a valid upper line.
//    Concretisation Σ a·(a ≥ 0 ? lo : hi) over the float32 box rounded outward errs by
//    ≤ γ_d·Σ|a|·max(|lo|, |hi|).
//  • Conv2d, IBP: each output is a float32 sum of its ckk = cin·k·k window products and the
//    bias (a tap in the padding multiplies an exact 0 and adds nothing), so the dense rule holds
//    with the fan-in ckk for `in`: radius grow_ckk·fl(|W|r) + γ_{ckk+1}(grow_ckk·fl(|W|M) + |b|),
//    error weights up32(grow_ckk·fl(|W|M) + |b|) per output, and the network allowance with
//    bounds.ts's fanIn ckk + 1.
//  • Conv2d, CROWN: fl(Ã·W) (the transposed convolution) sums, for each input entry, at most
//    m = cout·⌈k/s⌉² products (cout per patch entry, ⌈k/s⌉² patch entries per input pixel; the
//    window engine sums fewer, never more), so it errs by ≤ γ_m|Ã||W| entrywise and costs
//    γ_m·Σ|Ã|(|W|M) for |u| ≤ M. The bias dot Σ Ã·b runs in float64 over exact float32 × float32
//    products (rowDots64): ≤ γ64_{cout·oh·ow}·Σ|Ã||b|. So e += (γ_{m+1} + γ64)·Σ|Ã|·(|W|M + |b|),
//    the same row kernel against the IBP step's vector (γ_{m+1} for γ_m: room to spare).
//  • Nets with conv layers add every ReLU's constant and the concretisation in float64 too
//    (relaxRows64, concretizeRows64): on rows thousands of entries wide a float32 γ_n of the
//    width would dwarf the network's own allowance. ReLU: a·au is still rounded to float32
//    (≤ u|a||z|, au ≤ 1) and Σ a·bu errs by γ64_n·Σ|a|bu: e += (γ_2 + γ64_n)·Σ_unstable|a|(M_z + bu).
//    Concretisation: e += (γ_1 + γ64_d)·Σ|a|·max(|lo|, |hi|) (γ_1: room to spare).
//  • The constants c are float64 sums, one addition per op and one for the line's value: each
//    errs by ≤ 2^-53 of a partial sum, itself ≤ Σ of the magnitudes added (cMag), so the bound
//    subtracts (ops + 2)·2^-52·cMag besides the error terms (for every net, dense or conv).
//  • Windows compute the same sums as the full rows without terms that are exactly zero
//    (entries outside a receptive field); positions of a window that fall in a layer's padding
//    read slopes, error weights and input box 0, so their coefficients become exactly 0 before
//    any transposed convolution could carry them into the plane. Fewer terms: the same γ bounds.
// The kernels may fuse multiply-adds or not; γ_n covers both. (Underflow is outside the γ_n
// model, in the dense analysis as here: an operation in the subnormal range errs by ≤ 2^-150
// absolutely, which matters only to a bound within ~1e-30 of 0.)
import type { Model } from "../nn/model.js";
import type { Kernels } from "../core/kernels.js";
import { Arena } from "../core/arena.js";
import { BOUND_METHODS, marginBounds, type BoundOptions, type SampleBounds } from "./bounds.js";
import { bump as bump64, gamma32, gamma64, grow32 } from "./rounding32.js";
import { convForward, convLayer, convTransposed, windowGeom, type ConvL } from "./fast-conv.js";

// A local binding: the output loops call it per element, and a module namespace getter per call
// (as some ESM loaders compile imports) costs more than the arithmetic.
const bump = bump64;

/** The methods the float32 path computes; the others (dual, alpha-crown) run in bounds.ts. */
export const FAST_METHODS = ["ibp", "crown", "crown-ibp"] as const;

/**
 * bounds.ts BoundOptions (method, eps, clip, rounding, pure: same meaning) plus the path.
 */
export interface FastBoundOptions extends BoundOptions {
  /** "float32" (default): the batched WASM path; "float64": the reference path of bounds.ts. */
  precision?: "float32" | "float64";
  /** Samples per batch (default 128). */
  batch?: number;
  /**
   * Tests and benchmarks only: false drops the error bound of the float32 bound computation
   * (the network allowance stays as `rounding` says). The results are then NOT sound; they
   * show how closely the float32 arithmetic itself follows float64.
   */
  errorTerms?: boolean;
  /** Tests only: false runs the intermediate rows of conv layers on full planes, not windows. */
  windows?: boolean;
  /** Tests only: the back-substitution working set in floats (default CHUNK_FLOATS). */
  chunkFloats?: number;
}

export interface FastSampleBounds extends SampleBounds {
  /**
   * float32 path only: what was subtracted from each margin's computed bound (the network's
   * rounding allowance plus the error bound of the float32 bound computation); 0 at y.
   */
  widening?: Float64Array;
}

/** Counters of the back-substitution (for benchmarks). */
export interface FastStats {
  /** 2·M·N·K of every back-substitution GEMM as run (inactive columns and shared ± parts skipped). */
  gemmFlops: number;
  /** The same products without those savings: rows × out × in of every dense layer passed (textbook CROWN). */
  denseFlops: number;
  /** Milliseconds in back-substitution (relaxation, bias dots, GEMMs, concretisation). */
  backMs: number;
  /** Of which inside the GEMM calls. */
  gemmMs: number;
  /** Rows back-substituted (intermediate and output). */
  rows: number;
  /** Of which on windows (conv layers' intermediate bounds). */
  windowRows?: number;
}

interface DenseL {
  kind: "dense";
  inSize: number;
  outSize: number;
  /** Byte addresses of W (out × in), |W|, b. */
  w: number;
  wAbs: number;
  b: number;
  bias: Float32Array;
}

interface ReluL {
  kind: "relu";
  size: number;
}

type AffineL = DenseL | ConvL;
type FastOp = AffineL | ReluL;

/**
 * null when the float32 path handles this model and method, else why not (fastMarginBounds
 * then runs the float64 path of bounds.ts).
 */
export function fastPathSupport(model: Model, method: string = "crown"): string | null {
  if (!(FAST_METHODS as readonly string[]).includes(method)) return `method '${method}'`;
  let prev: string | null = null;
  for (const l of model.layers) {
    const t = l.spec.type;
    if (t === "flatten") continue;
    if (t === "relu" && prev !== "dense" && prev !== "conv2d") return "a ReLU that does not follow a dense or conv2d layer";
    if (t !== "dense" && t !== "relu" && t !== "conv2d") return `layer type '${t}'`;
    prev = t;
  }
  if (prev !== "dense") return "the last layer is not dense";
  return null;
}

/** Margin lower bounds for n samples (x: n × inputSize float32 values), batched. */
export function fastMarginBounds(model: Model, x: Float32Array, y: ArrayLike<number>, o: FastBoundOptions, stats?: FastStats): FastSampleBounds[] {
  if (!(o.eps >= 0) || !Number.isFinite(o.eps)) throw new Error(`ε must be a non-negative number, got ${o.eps}`);
  if (!(BOUND_METHODS as readonly string[]).includes(o.method)) throw new Error(`unknown bound method '${o.method}' (expected ${BOUND_METHODS.join(", ")})`);
  const precision = o.precision ?? "float32";
  if (precision !== "float32" && precision !== "float64") throw new Error(`unknown precision '${precision}' (expected float32 or float64)`);
  const rounding = o.rounding ?? "float32";
  if (rounding !== "float32" && rounding !== "none") throw new Error(`unknown rounding '${rounding}' (expected float32 or none)`);
  const clip = o.clip === undefined ? { lo: 0, hi: 1 } : o.clip;
  if (clip && !(clip.lo <= clip.hi)) throw new Error(`clip range [${clip.lo}, ${clip.hi}] is empty`);
  const dim = model.inputSize;
  if (x.length !== y.length * dim) throw new Error(`x holds ${x.length} values; ${y.length} samples of ${dim} need ${y.length * dim}`);
  for (let s = 0; s < y.length; s++) {
    const label = y[s];
    if (!Number.isInteger(label) || label < 0 || label >= model.outputSize) throw new Error(`label ${label} of sample ${s} is outside 0..${model.outputSize - 1}`);
  }
  if (precision === "float64" || fastPathSupport(model, o.method) !== null) {
    checkFinite(x, dim);
    const { precision: _p, batch: _b, errorTerms: _e, windows: _w, chunkFloats: _c, ...ref } = o;
    return marginBounds(model, x, y, { ...ref, clip, rounding });
  }
  const batch = o.batch ?? 128;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  const arena = model.arena;
  const mark = arena.mark();
  try {
    const chunk = o.chunkFloats ?? CHUNK_FLOATS;
    if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`chunkFloats must be a positive integer, got ${chunk}`);
    const net = new FastNet(model, arena, o.errorTerms !== false, o.windows !== false, chunk);
    // The folded last layers outlive every batch: build them before any batch's scratch.
    for (const label of new Set(Array.from(y))) net.foldedFor(label);
    net.beginBatches();
    const out: FastSampleBounds[] = [];
    for (let s0 = 0; s0 < y.length; s0 += batch) {
      const n = Math.min(batch, y.length - s0);
      const labels = Array.from({ length: n }, (_, i) => y[s0 + i]);
      out.push(...net.bounds(x.subarray(s0 * dim, (s0 + n) * dim), s0, labels, { ...o, clip, rounding }, stats));
    }
    return out;
  } finally {
    arena.release(mark);
  }
}

function checkFinite(x: Float32Array, dim: number, offset = 0): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new Error(`x[${offset + i}] is not finite (sample ${Math.floor((offset + i) / dim)})`);
  }
}

/** Byte address of a typed array living in WASM memory. */
function addr(view: Float32Array | Float64Array): number {
  return view.byteOffset;
}

// The kernels a build older than fast.ts lacks (checked once per net, for a clear error).
const BOUND_KERNELS = ["ibpRadius", "boxFromBounds", "reluRelax", "foldLast", "foldedRows", "relaxRows64", "rowDots64", "concretizeRows64", "convUnitRows", "gatherWindows"] as const;

/** A float64 array of `length` entries in the arena (not zero-filled when the arena does not zero). */
function f64(arena: Arena, length: number): Float64Array {
  const ptr = arena.bytes(length * 8); // first: it may grow the memory
  return new Float64Array(arena.rt.memory.buffer, ptr, length);
}

/** The default size of the back-substitution working set (floats per coefficient block). */
const CHUNK_FLOATS = 1 << 19;

/** Per-op state of one batch (dense or conv op): input boxes, relaxations and error weights. */
interface AffineState {
  /** The input box: centre (n × in) and [radius; magnitude; network error] (3n × in), float32. */
  c: Float32Array;
  rme: Float32Array;
  hasE: boolean;
  /** The output box (n × out), float64: IBP, then refined. */
  lo: Float64Array;
  hi: Float64Array;
  /** |W|·M + |b| rounded up (n × out): the CROWN error weights of this layer. */
  w: Float32Array;
  /** Network rounding allowance at the output (n × out), float64. */
  e: Float64Array;
}

interface ReluState {
  al: Float32Array;
  au: Float32Array;
  bu: Float32Array;
  /** Error weights of back-substitution through this ReLU: M_z + bu where unstable, else 0. */
  w: Float32Array;
}

/**
 * Rows that live on windows of the activations (the intermediate bounds of a conv layer's
 * neurons: a neuron's row is zero outside its receptive field). Segments group rows of one
 * sample and one output position; every segment's window has the same size at each tensor.
 * tensors[p + 1] describes the rows on the output of op p (tensors[0]: on the network input):
 * the full plane C × H × W, the window wh × ww, and per segment the window's top-left corner
 * (which may lie in the padding: positions outside the plane read as zero).
 */
interface Windows {
  sample: Int32Array;
  tensors: { C: number; H: number; W: number; wh: number; ww: number; y0: Int32Array; x0: Int32Array }[];
}

class FastNet {
  readonly ops: FastOp[] = [];
  readonly k: Kernels;
  readonly work: number;
  readonly classes: number;
  readonly dim: number;
  readonly maxWidth: number;
  /**
   * Nets with conv layers: every ReLU and the concretisation use the kernels that add their
   * constants in float64 (relaxRows64, concretizeRows64); dense-only nets keep the float32 ones.
   */
  readonly wide: boolean;
  /** The folded last layer per label: (W_y − W_j) rows and (b_y − b_j), float32; row y zero. */
  private folded = new Map<number, { w: Float32Array; b: Float32Array }>();

  /**
   * Per-batch scratch above everything the net keeps, handed out without zero-filling (every
   * buffer taken from it is written in full before it is read, or filled explicitly).
   */
  private scratch!: Arena;

  beginBatches(): void {
    this.scratch = new Arena(this.arena.rt, this.arena.mark(), { zero: false });
  }

  /** 1, or 0 to drop the error terms of the float32 computation (tests only; unsound). */
  readonly errScale: number;

  constructor(readonly model: Model, readonly arena: Arena, errorTerms = true, readonly windows = true, readonly chunkFloats = CHUNK_FLOATS) {
    this.errScale = errorTerms ? 1 : 0;
    this.k = arena.rt.k;
    for (const name of BOUND_KERNELS) {
      if (typeof this.k[name] !== "function") throw new Error(`the WASM core lacks the bound kernel '${name}': export it in assembly/index.ts and run \`npm run build\``);
    }
    this.work = arena.bytes(this.k.gemmWorkBytes());
    this.classes = model.outputSize;
    this.dim = model.inputSize;
    let width = this.dim;
    model.layers.forEach((l, idx) => {
      const spec = l.spec;
      if (spec.type === "relu") this.ops.push({ kind: "relu", size: l.inShape.reduce((a, b) => a * b, 1) });
      else if (spec.type === "dense") {
        const p = model.layerParams(idx);
        const nw = spec.in * spec.out;
        // Not zero-filled first (absInto writes it all): this runs once per call.
        const wAbs = arena.bytes(nw * 4);
        this.k.absInto(addr(p), wAbs, nw);
        const bias = p.subarray(nw);
        this.ops.push({ kind: "dense", inSize: spec.in, outSize: spec.out, w: addr(p), wAbs, b: addr(bias), bias });
        width = Math.max(width, spec.in, spec.out);
      } else if (spec.type === "conv2d") {
        const op = convLayer(this.k, arena, l.inShape, spec, model.layerParams(idx));
        this.ops.push(op);
        width = Math.max(width, op.inSize, op.outSize);
      }
    });
    this.maxWidth = width;
    this.wide = this.ops.some((op) => op.kind === "conv");
  }

  private get last(): DenseL {
    return this.ops[this.ops.length - 1] as DenseL;
  }

  foldedFor(label: number): { w: Float32Array; b: Float32Array } {
    let f = this.folded.get(label);
    if (f) return f;
    // Allocated in the arena: callers build these before taking per-batch scratch.
    // Not zero-filled first: foldLast writes every entry.
    const L = this.last;
    const { rt } = this.arena;
    const w = rt.f32(this.arena.bytes(this.classes * L.inSize * 4), this.classes * L.inSize);
    const b = rt.f32(this.arena.bytes(this.classes * 4), this.classes);
    this.k.foldLast(L.w, L.b, this.classes, L.inSize, label, addr(w), addr(b));
    f = { w, b };
    this.folded.set(label, f);
    return f;
  }

  bounds(x: Float32Array, first0: number, labels: number[], o: FastBoundOptions & { clip: { lo: number; hi: number } | null; rounding: "float32" | "none" }, stats?: FastStats): FastSampleBounds[] {
    const { k, ops, dim, classes } = this;
    const arena = this.scratch;
    const n = labels.length;
    const method = o.method;
    const pure = o.pure === true;
    const needIbpOut = method === "ibp" || !pure;
    const needRelax = method !== "ibp";
    const mark = arena.mark();
    try {
      // The input box.
      const xin = arena.f32(n * dim);
      xin.f32.set(x);
      const lo0 = arena.f32(n * dim).f32;
      const hi0 = arena.f32(n * dim).f32;
      const first = ops[0] as AffineL;
      let st: AffineState = this.affineState(first, n, false);
      const clip = o.clip;
      // It also reports non-finite x (checkFinite then names the first).
      const bad = k.linfBox(xin.ptr, n * dim, o.eps, clip ? 1 : 0, clip ? clip.lo : 0, clip ? clip.hi : 0,
        addr(lo0), addr(hi0), addr(st.c), addr(st.rme), addr(st.rme) + n * dim * 4);
      if (bad !== 0) checkFinite(x, dim, first0 * dim);
      const m0 = st.rme.subarray(n * dim, 2 * n * dim);

      const dense: (AffineState | undefined)[] = [];
      const relus: (ReluState | undefined)[] = [];
      let firstAffine = true;
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        if (op.kind === "relu") {
          // Relaxation of this ReLU and the input box of the next dense layer.
          const prev = dense[i - 1]!;
          if (needRelax) relus[i] = this.relaxation(prev.lo, prev.hi, n, op.size);
          const next = ops[i + 1] as AffineL;
          const ns = this.affineState(next, n, o.rounding === "float32");
          this.boxInto(ns, prev.lo, prev.hi, prev.e, true, n, op.size);
          st = ns;
          continue;
        }
        if (i > 0 && ops[i - 1].kind !== "relu") {
          // Two affine layers in a row: the next one's input is this one's output box.
          const prev = dense[i - 1]!;
          const ns = this.affineState(op, n, o.rounding === "float32");
          this.boxInto(ns, prev.lo, prev.hi, prev.e, false, n, op.inSize);
          st = ns;
        }
        const isLast = i === ops.length - 1;
        this.ibpStep(op, st, n, !isLast, o.rounding === "float32");
        dense[i] = st;
        if (method === "crown" && !firstAffine && ops[i + 1]?.kind === "relu") {
          this.refine(i, st, n, pure, lo0, hi0, m0, dense, relus, stats);
        }
        firstAffine = false;
      }

      // Output: IBP through the folded layer, CROWN from the margin rows, or both.
      const L = ops.length - 1;
      const lastState = dense[L]!;
      const lower = new Float64Array(n * classes).fill(-Infinity);
      const widen = new Float64Array(n * classes);
      if (needIbpOut) this.foldedIbp(lastState, labels, n, lower, widen);
      if (method !== "ibp") {
        const rowsPer = classes - 1;
        const offs = Int32Array.from({ length: n + 1 }, (_, s) => s * rowsPer);
        const bl = this.backSubstitute(L, n, offs, false, (a, r0, r1) => {
          // Coefficients on the logits: e_y − e_j (row r: sample ⌊r / rowsPer⌋, its j-th margin).
          const rows = r1 - r0;
          a.fill(0, 0, rows * classes);
          for (let r = r0; r < r1; r++) {
            const s = Math.floor(r / rowsPer);
            const q = r - s * rowsPer;
            const y = labels[s];
            a[(r - r0) * classes + y] = 1;
            a[(r - r0) * classes + (q < y ? q : q + 1)] = -1;
          }
          return { width: classes, c: new Float64Array(rows) };
        }, lo0, hi0, m0, dense, relus, stats);
        for (let s = 0; s < n; s++) {
          for (let j = 0, r = s * rowsPer; j < classes; j++) {
            if (j === labels[s]) continue;
            const v = bl.lower[r];
            const at = s * classes + j;
            if (pure || v > lower[at]) {
              lower[at] = v;
              widen[at] = bl.err[r];
            }
            r++;
          }
        }
      }

      const out: FastSampleBounds[] = [];
      // Per sample views of one buffer: a small typed array of its own costs ~10× more.
      const res = new ArrayBuffer(2 * n * classes * 8);
      for (let s = 0; s < n; s++) {
        const y = labels[s];
        const lw = new Float64Array(res, 2 * s * classes * 8, classes);
        const wd = new Float64Array(res, (2 * s + 1) * classes * 8, classes);
        let lowest = Infinity;
        for (let j = 0; j < classes; j++) {
          if (j === y) {
            lw[j] = Infinity;
            continue;
          }
          let v = lower[s * classes + j];
          let w = widen[s * classes + j];
          if (o.rounding === "float32") {
            // bounds.ts doubles the allowance (there: for its float64 arithmetic); so do we.
            const a = 2 * (lastState.e[s * classes + y] + lastState.e[s * classes + j]);
            v -= a;
            w += a;
          }
          v = v - Math.abs(v) * 2 ** -45;
          if (!Number.isFinite(v)) throw new Error(`bound for margin ${j} is not finite`);
          lw[j] = v;
          wd[j] = w;
          lowest = Math.min(lowest, v);
        }
        out.push({ lower: lw, lowest, widening: wd });
      }
      return out;
    } finally {
      arena.release(mark);
    }
  }

  private affineState(op: AffineL, n: number, hasE: boolean): AffineState {
    const a = this.scratch;
    const nn = n * op.outSize;
    return {
      c: a.f32(n * op.inSize).f32,
      rme: a.f32((hasE ? 3 : 2) * n * op.inSize).f32,
      hasE,
      lo: f64(a, nn),
      hi: f64(a, nn),
      w: a.f32(nn).f32,
      e: f64(a, nn),
    };
  }

  /** Writes the float32 centre/radius/magnitude/error of a float64 box (through ReLU if relu). */
  private boxInto(st: AffineState, lo: Float64Array, hi: Float64Array, e: Float64Array, relu: boolean, n: number, size: number): void {
    const nn = n * size;
    const r = addr(st.rme);
    this.k.boxFromBounds(nn, addr(lo), addr(hi), addr(e), relu ? 1 : 0, st.hasE ? 1 : 0, addr(st.c), r, r + 4 * nn, r + 8 * nn);
  }

  /** IBP of a dense or conv layer on st's input box; fills st.lo/hi, st.w and (if tracked) st.e. */
  private ibpStep(op: AffineL, st: AffineState, n: number, withBox: boolean, allowance: boolean): void {
    const { k } = this;
    const arena = this.scratch;
    const { inSize: nin, outSize: nout } = op;
    const mark = arena.mark();
    const cOut = arena.f32(n * nout);
    const absOut = arena.f32(3 * n * nout);
    const absRows = st.hasE ? 3 * n : 2 * n;
    // Products in each output's sum (without the bias): the fan-in.
    const fan = op.kind === "conv" ? op.ckk : nin;
    if (op.kind === "conv") {
      // Never the last layer (fastPathSupport): always with the box.
      convForward(k, arena, op, addr(st.c), n, cOut.ptr, false, this.work);
      convForward(k, arena, op, addr(st.rme), absRows, absOut.ptr, true, this.work);
    } else if (withBox) {
      k.gemm(0, 1, n, nout, nin, addr(st.c), nin, op.w, nin, cOut.ptr, nout, 0, this.work);
      k.biasAddRows(cOut.ptr, op.b, n, nout);
      k.gemm(0, 1, absRows, nout, nin, addr(st.rme), nin, op.wAbs, nin, absOut.ptr, nout, 0, this.work);
    } else {
      // The last layer: only |W|·M (and |W|·E) of the unfolded layer are needed here.
      k.gemm(0, 1, absRows - n, nout, nin, addr(st.rme) + n * nin * 4, nin, op.wAbs, nin, absOut.ptr + n * nout * 4, nout, 0, this.work);
    }
    const gNet = gamma32(fan + 1);
    const g = this.errScale * gNet;
    const grow = 1 + this.errScale * (grow32(fan) - 1);
    const growNet = grow32(fan);
    // Per entry (float64, as up32/bump): mh = growNet·fl(|W|M) + |b|, w = up32(mh);
    // radius bump(grow·fl(|W|r) + g·mh) around fl(W·c + b); with the allowance, bounds.ts
    // roundingAllowance's E' = |W|E + γ_fanIn(|W|(M + E) + |b|) as bump(ein + gNet·(mh + ein)),
    // ein = growNet·fl(|W|E).
    k.ibpRadius(n, nout, cOut.ptr, absOut.ptr, op.kind === "conv" ? op.bvec : op.b, st.hasE ? 1 : 0, withBox ? 1 : 0, allowance ? 1 : 0,
      growNet, gNet, grow, g, addr(st.lo), addr(st.hi), addr(st.w), addr(st.e));
    // What it did not write reads as 0, not as stale scratch (as the float64 arrays these were).
    if (!withBox) {
      st.lo.fill(0);
      st.hi.fill(0);
    }
    if (!allowance) st.e.fill(0);
    arena.release(mark);
  }

  /** The ReLU relaxation of boxes [lo, hi] (n × size), rounded so the upper line stays above. */
  private relaxation(lo: Float64Array, hi: Float64Array, n: number, size: number): ReluState {
    const a = this.scratch;
    const nn = n * size;
    const al = a.f32(nn).f32;
    const au = a.f32(nn).f32;
    const bu = a.f32(nn).f32;
    const w = a.f32(nn).f32;
    // Unstable neurons: au = up32(u/(u − l)) and bu = up32(−au·l) keep au·z + bu ≥ ReLU(z) at
    // both ends of [l, u]; al = [u > −l]; error weight w = up32(max(−l, u) + bu).
    this.k.reluRelax(nn, addr(lo), addr(hi), addr(al), addr(au), addr(bu), addr(w));
    return { al, au, bu, w };
  }

  /** CROWN bounds of the neurons of affine op i (IBP-unstable ones, or all if pure), intersected with IBP unless pure. */
  private refine(i: number, st: AffineState, n: number, pure: boolean, lo0: Float32Array, hi0: Float32Array, m0: Float32Array,
    dense: (AffineState | undefined)[], relus: (ReluState | undefined)[], stats?: FastStats): void {
    const op = this.ops[i] as AffineL;
    const nout = op.outSize;
    if (op.kind === "conv") {
      const plan = this.windowPlan(i);
      if (plan) {
        this.refineWindowed(i, op, plan, st, n, pure, lo0, hi0, m0, dense, relus, stats);
        return;
      }
    }
    const idx: number[] = [];
    const which: number[] = [];
    const offs = new Int32Array(n + 1);
    for (let s = 0; s < n; s++) {
      for (let j = 0; j < nout; j++) {
        const at = s * nout + j;
        if (pure || (st.lo[at] < 0 && st.hi[at] > 0)) {
          idx.push(j, -j - 1);
          which.push(at);
        }
      }
      offs[s + 1] = idx.length;
    }
    if (idx.length === 0) return;
    const { k } = this;
    const arena = this.scratch;
    const idxAll = Int32Array.from(idx);
    // Rows ±e_j pushed through op i exactly: ±W[j, :], constant ±b[j] (conv: ±(row j of the
    // convolution's matrix), written from W's window, constant ±b[channel of j]).
    // The ± rows stay exact negations of each other only up to the first GEMM: pairs only
    // when that GEMM is the first layer's (the ReLU before op i follows a dense first layer).
    const pairs = i === 2 && this.ops[1].kind === "relu" && this.ops[0].kind === "dense";
    const res = this.backSubstitute(i - 1, n, offs, pairs, (a, r0, r1) => {
      const rows = r1 - r0;
      const mark = arena.mark();
      const ib = arena.i32(rows);
      ib.i32.set(idxAll.subarray(r0, r1));
      if (op.kind === "conv") k.convUnitRows(op.w, op.cin, op.h, op.wd, op.k, op.stride, op.pad, op.oh, op.ow, ib.ptr, rows, addr(a));
      else k.gatherSignedRows(op.w, op.inSize, ib.ptr, rows, addr(a));
      arena.release(mark);
      const c = new Float64Array(rows);
      const plane = op.kind === "conv" ? op.plane : 1;
      for (let r = 0; r < rows; r++) {
        const t = idxAll[r0 + r];
        c[r] = t >= 0 ? op.bias[Math.floor(t / plane)] : -op.bias[Math.floor((-t - 1) / plane)];
      }
      return { width: op.inSize, c };
    }, lo0, hi0, m0, dense, relus, stats);
    this.keepBounds(st, which, res.lower, pure);
  }

  /**
   * Stores the back-substituted bounds of neurons `which` (lower[2q] ≤ z ≤ −lower[2q + 1]):
   * they replace the box when pure, else intersect it.
   */
  private keepBounds(st: AffineState, which: number[], lower: Float64Array, pure: boolean): void {
    if (pure) {
      st.lo.fill(-Infinity);
      st.hi.fill(Infinity);
    }
    which.forEach((at, q) => {
      const l = lower[2 * q];
      const u = -lower[2 * q + 1];
      st.lo[at] = pure ? l : Math.max(st.lo[at], l);
      st.hi[at] = pure ? u : Math.min(st.hi[at], u);
    });
  }

  /**
   * The windows of conv op i's intermediate rows, or null when they do not pay or do not
   * apply. A neuron (co, oy, ox) of op i reaches op i's input through a k × k window at
   * (s·oy − pad, s·ox − pad); each transposed convolution below widens a wh × ww window to
   * ((wh − 1)·s + k) × ((ww − 1)·s + k) at (s·y0 − pad, s·x0 − pad). Per tensor t (the
   * output of op t − 1; 0: the input) the plane, the window size and the corner as
   * y0 = ay·oy + by, x0 = ax·ox + bx. Applies when every op below i is a conv followed by a
   * ReLU, or that ReLU: the ReLU's window vectors are zero outside the plane, so the rows stay
   * zero there and no padding position feeds a transposed convolution (the input box is zero
   * there too). Pays when no window holds more positions than its plane.
   */
  private windowPlan(i: number): { C: number; H: number; W: number; wh: number; ww: number; ay: number; by: number; ax: number; bx: number }[] | null {
    const { ops } = this;
    if (!this.windows) return null;
    const op = ops[i] as ConvL;
    for (let p = 0; p < i; p++) {
      const q = ops[p];
      if (q.kind === "dense") return null;
      if (q.kind === "conv" && ops[p + 1]?.kind !== "relu") return null;
    }
    const tensors: { C: number; H: number; W: number; wh: number; ww: number; ay: number; by: number; ax: number; bx: number }[] = [];
    let g = { C: op.cin, H: op.h, W: op.wd, wh: op.k, ww: op.k, ay: op.stride, by: -op.pad, ax: op.stride, bx: -op.pad };
    tensors[i] = g;
    for (let p = i - 1; p >= 0; p--) {
      const q = ops[p];
      if (q.kind === "conv") {
        g = {
          C: q.cin, H: q.h, W: q.wd, wh: (g.wh - 1) * q.stride + q.k, ww: (g.ww - 1) * q.stride + q.k,
          ay: q.stride * g.ay, by: q.stride * g.by - q.pad, ax: q.stride * g.ax, bx: q.stride * g.bx - q.pad,
        };
      }
      tensors[p] = g;
    }
    if (tensors.some((t) => t.wh * t.ww > t.H * t.W)) return null;
    return tensors;
  }

  /**
   * refine for a conv op on windows (windowPlan): rows grouped by sample and output position,
   * each row ±W[co] on op i's input window, constant ±b[co]; the same bounds as the full rows
   * (the entries dropped are zero).
   */
  private refineWindowed(i: number, op: ConvL, plan: NonNullable<ReturnType<FastNet["windowPlan"]>>, st: AffineState, n: number, pure: boolean,
    lo0: Float32Array, hi0: Float32Array, m0: Float32Array, dense: (AffineState | undefined)[], relus: (ReluState | undefined)[], stats?: FastStats): void {
    const { plane, outSize: nout } = op;
    const idx: number[] = [];
    const which: number[] = [];
    const segOffs: number[] = [0];
    const segSample: number[] = [];
    const segPos: number[] = [];
    for (let s = 0; s < n; s++) {
      for (let pos = 0; pos < plane; pos++) {
        const before = idx.length;
        for (let co = 0; co < op.cout; co++) {
          const at = s * nout + co * plane + pos;
          if (pure || (st.lo[at] < 0 && st.hi[at] > 0)) {
            idx.push(co, -co - 1);
            which.push(at);
          }
        }
        if (idx.length > before) {
          segOffs.push(idx.length);
          segSample.push(s);
          segPos.push(pos);
        }
      }
    }
    if (idx.length === 0) return;
    if (stats) stats.windowRows = (stats.windowRows ?? 0) + idx.length;
    const nseg = segSample.length;
    const win: Windows = {
      sample: Int32Array.from(segSample),
      tensors: plan.map((g) => {
        const y0 = new Int32Array(nseg);
        const x0 = new Int32Array(nseg);
        segPos.forEach((pos, q) => {
          const oy = Math.floor(pos / op.ow);
          y0[q] = g.ay * oy + g.by;
          x0[q] = g.ax * (pos - oy * op.ow) + g.bx;
        });
        return { C: g.C, H: g.H, W: g.W, wh: g.wh, ww: g.ww, y0, x0 };
      }),
    };
    const { k } = this;
    const arena = this.scratch;
    const idxAll = Int32Array.from(idx);
    const res = this.backSubstitute(i - 1, nseg, Int32Array.from(segOffs), false, (a, r0, r1) => {
      const rows = r1 - r0;
      const mark = arena.mark();
      const ib = arena.i32(rows);
      ib.i32.set(idxAll.subarray(r0, r1));
      k.gatherSignedRows(op.w, op.ckk, ib.ptr, rows, addr(a));
      arena.release(mark);
      const c = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        const t = idxAll[r0 + r];
        c[r] = t >= 0 ? op.bias[t] : -op.bias[-t - 1];
      }
      return { width: op.ckk, c };
    }, lo0, hi0, m0, dense, relus, stats, win);
    this.keepBounds(st, which, res.lower, pure);
  }

  /**
   * Lower bounds of linear functions of the output of ops[from] by back-substitution to the
   * input box. Rows offs[s] .. offs[s+1]−1 belong to sample s. `start(a, r0, r1)` writes the
   * coefficient rows r0..r1−1 into a and returns their width and constants. Rows go in chunks
   * of whole samples where a sample's rows fit the working set, else a sample's rows are split
   * (an even number of rows per chunk, so ± pairs stay together). Returns per row the bound
   * (error subtracted) and the error bound.
   */
  private backSubstitute(from: number, n: number, offs: Int32Array, pairs: boolean,
    start: (a: Float32Array, r0: number, r1: number) => { width: number; c: Float64Array },
    lo0: Float32Array, hi0: Float32Array, m0: Float32Array,
    dense: (AffineState | undefined)[], relus: (ReluState | undefined)[], stats?: FastStats, win?: Windows): { lower: Float64Array; err: Float64Array } {
    const { k, ops, dim, maxWidth, wide } = this;
    const arena = this.scratch;
    const total = offs[n];
    const lower = new Float64Array(total);
    const err = new Float64Array(total);
    const mark = arena.mark();
    const t0 = performance.now();
    try {
      const maxPer = Math.max(...Array.from({ length: n }, (_, s) => offs[s + 1] - offs[s]));
      const widest = win ? Math.max(...win.tensors.map((t) => t.C * t.wh * t.ww)) : maxWidth;
      const chunkRows = Math.max(2, Math.floor(this.chunkFloats / widest) & ~1);
      let a = arena.f32(chunkRows * widest).f32;
      let a2 = arena.f32(chunkRows * widest).f32;
      const cT = arena.f32(chunkRows);
      const eT = arena.f32(chunkRows);
      const cT64 = f64(arena, chunkRows);
      const offB = arena.i32(n + 1);
      // Windowed rows: per-segment window corners (sample, y0, x0) of the current chunk, and
      // each conv layer's bias in window layout (b[c] at every position of channel c).
      const segs = win ? arena.i32(3 * n) : undefined;
      const winBias = new Map<number, number>();
      if (win) {
        for (let p = 0; p <= from; p++) {
          const op = ops[p];
          if (op.kind !== "conv") continue;
          const t = win.tensors[p + 1];
          const per = t.wh * t.ww;
          const bw = arena.f32(op.cout * per);
          for (let co = 0; co < op.cout; co++) bw.f32.fill(op.bias[co], co * per, (co + 1) * per);
          winBias.set(p, bw.ptr);
        }
      }
      const first = ops[0];
      const compact = first.kind === "dense" ? {
        a: arena.f32(Math.min(maxPer, chunkRows) * first.outSize).f32,
        w: arena.f32(first.outSize * first.inSize).f32,
        idx: arena.i32(first.outSize),
        idxU: arena.i32(first.outSize),
      } : undefined;
      // Float32 rounding of a float32 product or sum of n terms (γ_n), and of a float64 sum
      // of n exact products (γ64_n); both times grow32(cols): the error weights Σ|a|·w are
      // float32 sums of cols non-negative terms.
      const es = this.errScale;
      let r0 = 0;
      let s0 = 0;
      while (r0 < total) {
        // s0: the sample holding row r0. The chunk ends on the last sample boundary within
        // chunkRows rows (whole samples), or, when the next boundary is farther, after
        // chunkRows rows (a piece of a sample too large for one chunk).
        while (offs[s0 + 1] <= r0) s0++;
        let r1 = Math.min(total, r0 + chunkRows);
        let boundary = -1;
        for (let b = s0 + 1; b <= n && offs[b] <= r1; b++) boundary = offs[b];
        if (boundary > r0) r1 = boundary;
        let s1 = s0 + 1;
        while (s1 < n && offs[s1] < r1) s1++;
        const rows = r1 - r0;
        const ns = s1 - s0;
        for (let s = 0; s <= ns; s++) offB.i32[s] = Math.min(r1, Math.max(r0, offs[s0 + s])) - r0;
        const { width: w0, c } = start(a, r0, r1);
        const e = new Float64Array(rows);
        // Σ of the magnitudes of everything added into c (float64): each float64 addition errs
        // by ≤ 2^-53 of a partial sum, which is ≤ this (up to the few roundings before it).
        const cMag = new Float64Array(rows);
        for (let r = 0; r < rows; r++) cMag[r] = Math.abs(c[r]);
        const adds = from + 1; // float64 additions into c: one per op
        let width = w0;
        // Per segment of this chunk, the vectors of tensor t (the output of op t − 1) that
        // the rows meet: slices of the per-sample vectors, or with windows their windows
        // gathered into the scratch (taken until the caller releases the level's mark).
        const vectors = (t: number, size: number, srcs: Float32Array[]): number[] => {
          if (!win) return srcs.map((v) => addr(v) + s0 * size * 4);
          const g = win.tensors[t];
          for (let q = 0; q < ns; q++) {
            segs!.i32[3 * q] = win.sample[s0 + q];
            segs!.i32[3 * q + 1] = g.y0[s0 + q];
            segs!.i32[3 * q + 2] = g.x0[s0 + q];
          }
          const per = g.C * g.wh * g.ww;
          return srcs.map((v) => {
            const dst = arena.bytes(ns * per * 4);
            k.gatherWindows(addr(v), g.C * g.H * g.W, g.C, g.H, g.W, g.wh, g.ww, segs!.ptr, ns, dst);
            return dst;
          });
        };
        const widthOf = (t: number, size: number): number => (win ? win.tensors[t].C * win.tensors[t].wh * win.tensors[t].ww : size);
        for (let p = from; p >= 0; p--) {
          const op = ops[p];
          const level = arena.mark();
          if (op.kind === "relu") {
            const rx = relus[p]!;
            const cols = widthOf(p + 1, op.size);
            const [al, au, bu, wv] = vectors(p + 1, op.size, [rx.al, rx.au, rx.bu, rx.w]);
            if (wide) {
              // a·au rounded once (≤ u·|a|·|z|, |z| ≤ M_z: γ_1, taken as γ_2), the constant in
              // float64 over exact products (γ64).
              k.relaxRows64(addr(a), cols, offB.ptr, ns, al, au, bu, wv, addr(cT64), eT.ptr);
              arena.release(level);
              const g = es * (gamma32(2) + gamma64(op.size)) * grow32(op.size);
              for (let r = 0; r < rows; r++) {
                c[r] += cT64[r];
                cMag[r] += Math.abs(cT64[r]);
                e[r] += g * eT.f32[r];
              }
              continue;
            }
            k.relaxRows(addr(a), cols, offB.ptr, ns, al, au, bu, wv, cT.ptr, eT.ptr);
            arena.release(level);
            const g = es * gamma32(op.size + 1) * grow32(op.size);
            for (let r = 0; r < rows; r++) {
              c[r] += cT.f32[r];
              cMag[r] += Math.abs(cT.f32[r]);
              e[r] += g * eT.f32[r];
            }
            continue;
          }
          const ds = dense[p]!;
          if (op.kind === "conv") {
            // Bias dot in float64 (γ64 of the cout·oh·ow exact products); the transposed
            // convolution sums ≤ backTerms products per entry: γ_{backTerms + 1}. On windows
            // the same sums without the terms that are zero (fewer terms: the bounds hold).
            const [wv] = vectors(p + 1, op.outSize, [ds.w]);
            k.rowDots64(addr(a), widthOf(p + 1, op.outSize), offB.ptr, ns, win ? winBias.get(p)! : op.bvec, wv, addr(cT64), eT.ptr);
            arena.release(level);
            const g = es * (gamma32(op.backTerms + 1) + gamma64(op.outSize)) * grow32(op.outSize);
            for (let r = 0; r < rows; r++) {
              c[r] += cT64[r];
              cMag[r] += Math.abs(cT64[r]);
              e[r] += g * eT.f32[r];
            }
            const flops = 2 * rows * op.plane * op.cout * op.ckk;
            if (stats) stats.denseFlops += flops;
            const t = win?.tensors[p + 1];
            convTransposed(k, arena, op, addr(a), rows, addr(a2), this.work, stats, t ? windowGeom(op, t.wh, t.ww) : op);
            [a, a2] = [a2, a];
            width = widthOf(p, op.inSize);
            continue;
          }
          k.rowDots(addr(a), op.outSize, offB.ptr, ns, op.b, addr(ds.w) + s0 * op.outSize * 4, cT.ptr, eT.ptr);
          const g = es * gamma32(op.outSize + 1) * grow32(op.outSize);
          for (let r = 0; r < rows; r++) {
            c[r] += cT.f32[r];
            cMag[r] += Math.abs(cT.f32[r]);
            e[r] += g * eT.f32[r];
          }
          const after = relus[p + 1];
          if (stats) stats.denseFlops += 2 * rows * op.inSize * op.outSize;
          if (p === 0 && after && compact) this.firstLayerProduct(op, a, a2, offB.i32, s0, ns, after, compact, pairs, stats);
          else {
            const tg = stats ? performance.now() : 0;
            k.gemm(0, 0, rows, op.inSize, op.outSize, addr(a), op.outSize, op.w, op.inSize, addr(a2), op.inSize, 0, this.work);
            if (stats) {
              stats.gemmFlops += 2 * rows * op.inSize * op.outSize;
              stats.gemmMs += performance.now() - tg;
            }
          }
          [a, a2] = [a2, a];
          width = op.inSize;
        }
        if (width !== widthOf(0, dim)) throw new Error(`internal: back-substitution ended at width ${width}, input is ${widthOf(0, dim)}`);
        const vb = s0 * dim * 4;
        if (wide) {
          // The line's value in float64 (exact products, γ64_dim; γ_1 of float32 besides, to
          // spare). Windows read the input box as 0 in the padding.
          const level = arena.mark();
          const [lw, hw, mw] = vectors(0, dim, [lo0, hi0, m0]);
          k.concretizeRows64(addr(a), widthOf(0, dim), offB.ptr, ns, lw, hw, mw, addr(cT64), eT.ptr);
          arena.release(level);
          const g = es * (gamma32(1) + gamma64(dim)) * grow32(dim);
          for (let r = 0; r < rows; r++) {
            const er = bump(e[r] + g * eT.f32[r]) + (adds + 2) * 2 ** -52 * (cMag[r] + Math.abs(cT64[r]));
            lower[r0 + r] = c[r] + cT64[r] - er;
            err[r0 + r] = er;
          }
        } else {
          k.concretizeRows(addr(a), dim, offB.ptr, ns, addr(lo0) + vb, addr(hi0) + vb, addr(m0) + vb, cT.ptr, eT.ptr);
          const g = es * gamma32(dim) * grow32(dim);
          for (let r = 0; r < rows; r++) {
            // The float64 additions into c and of this line: ≤ 2^-52 of the magnitudes each.
            const er = bump(e[r] + g * eT.f32[r]) + (adds + 2) * 2 ** -52 * (cMag[r] + Math.abs(cT.f32[r]));
            lower[r0 + r] = c[r] + cT.f32[r] - er;
            err[r0 + r] = er;
          }
        }
        r0 = r1;
      }
      if (stats) stats.rows += total;
    } finally {
      arena.release(mark);
      if (stats) stats.backMs += performance.now() - t0;
    }
    return { lower, err };
  }

  /**
   * a2 = a·W for the first dense layer (the widest product, rows × out → rows × input). The
   * columns of a that belong to a sample's stably inactive neurons (al = au = 0 in the ReLU
   * after this layer) are zero after the relaxation, so a sample with many rows multiplies
   * only its other columns, against the matching rows of W (same sums, fewer terms: the
   * rounding bound γ_out still holds). Samples with few rows are multiplied together.
   * With `pairs` (rows ±e_j of intermediate bounds, in that order) the two rows of a neuron
   * are exact negations of each other in the stably active columns (al = au = 1), so that
   * part is multiplied once: row+ = T + Q+·W_U, row− = −T + Q−·W_U, T = P·W_S.
   */
  private firstLayerProduct(op: DenseL, a: Float32Array, a2: Float32Array, offs: Int32Array, s0: number, ns: number,
    rx: ReluState, compact: { a: Float32Array; w: Float32Array; idx: { ptr: number; i32: Int32Array }; idxU: { ptr: number; i32: Int32Array } },
    pairs: boolean, stats?: FastStats): void {
    const { k } = this;
    const product = (rows: number, kk: number, aPtr: number, lda: number, idxPtr: number, c: number, ldc: number, acc: number): void => {
      k.gatherCols(aPtr, lda, rows, idxPtr, kk, addr(compact.a));
      k.gatherSignedRows(op.w, nin, idxPtr, kk, addr(compact.w));
      const tg = stats ? performance.now() : 0;
      k.gemm(0, 0, rows, nin, kk, addr(compact.a), kk, addr(compact.w), nin, c, ldc, acc, this.work);
      if (stats) {
        stats.gemmFlops += 2 * rows * nin * kk;
        stats.gemmMs += performance.now() - tg;
      }
    };
    const { inSize: nin, outSize: nout } = op;
    let run = 0;
    const flush = (upTo: number): void => {
      const r0 = offs[run];
      const rows = offs[upTo] - r0;
      if (rows > 0) {
        const tg = stats ? performance.now() : 0;
        k.gemm(0, 0, rows, nin, nout, addr(a) + r0 * nout * 4, nout, op.w, nin, addr(a2) + r0 * nin * 4, nin, 0, this.work);
        if (stats) {
          stats.gemmFlops += 2 * rows * nin * nout;
          stats.gemmMs += performance.now() - tg;
        }
      }
      run = upTo;
    };
    for (let q = 0; q < ns; q++) {
      const rows = offs[q + 1] - offs[q];
      if (rows < 32) continue;
      const base = (s0 + q) * nout;
      const r0 = offs[q];
      const aRows = addr(a) + r0 * nout * 4;
      const cRows = addr(a2) + r0 * nin * 4;
      if (pairs) {
        // S: stably active columns, U: unstable ones; inactive columns are zero in both rows.
        let ks = 0;
        let ku = 0;
        for (let j = 0; j < nout; j++) {
          const al = rx.al[base + j];
          const au = rx.au[base + j];
          if (al === 1 && au === 1) compact.idx.i32[ks++] = j;
          else if (al !== 0 || au !== 0) compact.idxU.i32[ku++] = j;
        }
        flush(q);
        if (ks > 0) {
          product(rows / 2, ks, aRows, 2 * nout, compact.idx.ptr, cRows, 2 * nin, 0);
          k.negatePairs(cRows, nin, rows / 2);
        } else a2.fill(0, r0 * nin, (r0 + rows) * nin);
        if (ku > 0) product(rows, ku, aRows, nout, compact.idxU.ptr, cRows, nin, 1);
        run = q + 1;
        continue;
      }
      let kk = 0;
      for (let j = 0; j < nout; j++) if (rx.al[base + j] !== 0 || rx.au[base + j] !== 0) compact.idx.i32[kk++] = j;
      if (kk > 0.85 * nout) continue;
      flush(q);
      if (kk === 0) a2.fill(0, r0 * nin, (r0 + rows) * nin);
      else product(rows, kk, aRows, nout, compact.idx.ptr, cRows, nin, 0);
      run = q + 1;
    }
    flush(ns);
  }

  /** IBP lower bounds of the margins through the folded last layer (W_y − W_j of each sample's label y). */
  private foldedIbp(st: AffineState, labels: number[], n: number, lower: Float64Array, widen: Float64Array): void {
    const { k, classes } = this;
    const arena = this.scratch;
    const nin = this.last.inSize;
    const mark = arena.mark();
    // Built before the batches (fastMarginBounds): foldedFor only looks them up here.
    const folded = labels.map((y) => this.foldedFor(y));
    const tabs = arena.i32(n);
    const lab = arena.i32(n);
    folded.forEach((f, s) => {
      tabs.i32[s] = addr(f.w);
      lab.i32[s] = labels[s];
    });
    const prods = arena.f32(3 * n * classes).f32;
    const nc = n * classes;
    const cOut = prods.subarray(0, nc);
    const rOut = prods.subarray(nc, 2 * nc);
    const mOut = prods.subarray(2 * nc);
    // fl(W̃·c), fl(|W̃|·r), fl(|W̃|·M) per sample and class.
    k.foldedRows(n, classes, nin, tabs.ptr, lab.ptr, addr(st.c), addr(st.rme), addr(st.rme) + 4 * n * nin, addr(prods));
    const g = this.errScale * gamma32(nin + 3);
    const grow = 1 + this.errScale * (grow32(nin) - 1);
    for (let s = 0; s < n; s++) {
      const y = labels[s];
      const b = folded[s].b;
      for (let j = 0; j < classes; j++) {
        if (j === y) continue;
        const i = s * classes + j;
        // fl(W̃·c) has no bias; adding b̃ in float64 is exact enough (covered by bump).
        const err = g * (grow * mOut[i] + Math.abs(b[j])) + (grow - 1) * rOut[i];
        const rad = bump(rOut[i] + err) + 2 ** -50 * (Math.abs(cOut[i]) + Math.abs(b[j]));
        lower[i] = cOut[i] + b[j] - rad;
        widen[i] = err;
      }
    }
    arena.release(mark);
  }
}

