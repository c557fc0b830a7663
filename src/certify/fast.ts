// Batched float32 margin bounds (IBP, CROWN, CROWN-IBP) on the WASM kernels: the same bounds as
// bounds.ts marginBounds (same boxes, same folding of the margin spec into the last layer,
// same relaxations, same "unstable neurons only" refinement and the same float32-network
// rounding allowance), for Dense/ReLU/Flatten networks; other networks (conv, pooling) go to
// the float64 path of bounds.ts (fastPathSupport says which).
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
// The kernels may fuse multiply-adds or not; γ_n covers both.
import type { Model } from "../nn/model.js";
import type { Kernels } from "../core/kernels.js";
import { Arena } from "../core/arena.js";
import { BOUND_METHODS, marginBounds, type BoundOptions, type SampleBounds } from "./bounds.js";
import { bump as bump64, gamma32, grow32 } from "./rounding32.js";

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

type FastOp = DenseL | ReluL;

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
    if (t === "relu" && prev !== "dense") return "a ReLU that does not follow a dense layer";
    if (t !== "dense" && t !== "relu") return `layer type '${t}'`;
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
    const { precision: _p, batch: _b, errorTerms: _e, ...ref } = o;
    return marginBounds(model, x, y, { ...ref, clip, rounding });
  }
  const batch = o.batch ?? 128;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  const arena = model.arena;
  const mark = arena.mark();
  try {
    const net = new FastNet(model, arena, o.errorTerms !== false);
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

/** The kernels of assembly/bounds.ts beyond kernels.ts's Kernels (pointers are byte addresses). */
interface BoundKernels extends Kernels {
  /** Returns 1 if some x is not finite, else 0. */
  linfBox(x: number, n: number, eps: number, clip: number, clipLo: number, clipHi: number,
    lo: number, hi: number, c: number, r: number, m: number): number;
  ibpRadius(n: number, cols: number, cv: number, av: number, bias: number, hasE: number, withBox: number, allowance: number,
    growNet: number, gNet: number, grow: number, g: number, lo: number, hi: number, w: number, e: number): void;
  boxFromBounds(nn: number, lo: number, hi: number, e: number, relu: number, hasE: number, c: number, r: number, m: number, eo: number): void;
  reluRelax(nn: number, lo: number, hi: number, al: number, au: number, bu: number, w: number): void;
  foldLast(w: number, b: number, classes: number, cols: number, y: number, wOut: number, bOut: number): void;
  foldedRows(n: number, classes: number, cols: number, tabs: number, labels: number, c: number, r: number, m: number, out: number): void;
}
const BOUND_KERNELS = ["ibpRadius", "boxFromBounds", "reluRelax", "foldLast", "foldedRows"] as const;

/** A float64 array of `length` entries in the arena (not zero-filled when the arena does not zero). */
function f64(arena: Arena, length: number): Float64Array {
  const ptr = arena.bytes(length * 8); // first: it may grow the memory
  return new Float64Array(arena.rt.memory.buffer, ptr, length);
}

/** The default size of the back-substitution working set (floats per coefficient block). */
const CHUNK_FLOATS = 1 << 19;

/** Per-op state of one batch: input boxes, relaxations and error weights. */
interface DenseState {
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

class FastNet {
  readonly ops: FastOp[] = [];
  readonly k: BoundKernels;
  readonly work: number;
  readonly classes: number;
  readonly dim: number;
  readonly maxWidth: number;
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

  constructor(readonly model: Model, readonly arena: Arena, errorTerms = true) {
    this.errScale = errorTerms ? 1 : 0;
    this.k = arena.rt.k as BoundKernels;
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
      }
    });
    this.maxWidth = width;
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
      const first = ops[0] as DenseL;
      let st: DenseState = this.denseState(first, n, false);
      const clip = o.clip;
      // It also reports non-finite x (checkFinite then names the first).
      const bad = k.linfBox(xin.ptr, n * dim, o.eps, clip ? 1 : 0, clip ? clip.lo : 0, clip ? clip.hi : 0,
        addr(lo0), addr(hi0), addr(st.c), addr(st.rme), addr(st.rme) + n * dim * 4);
      if (bad !== 0) checkFinite(x, dim, first0 * dim);
      const m0 = st.rme.subarray(n * dim, 2 * n * dim);

      const dense: (DenseState | undefined)[] = [];
      const relus: (ReluState | undefined)[] = [];
      let firstDense = true;
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        if (op.kind === "relu") {
          // Relaxation of this ReLU and the input box of the next dense layer.
          const prev = dense[i - 1]!;
          if (needRelax) relus[i] = this.relaxation(prev.lo, prev.hi, n, op.size);
          const next = ops[i + 1] as DenseL;
          const ns = this.denseState(next, n, o.rounding === "float32");
          this.boxInto(ns, prev.lo, prev.hi, prev.e, true, n, op.size);
          st = ns;
          continue;
        }
        if (i > 0 && ops[i - 1].kind === "dense") {
          // Two dense layers in a row: the next one's input is this one's output box.
          const prev = dense[i - 1]!;
          const ns = this.denseState(op, n, o.rounding === "float32");
          this.boxInto(ns, prev.lo, prev.hi, prev.e, false, n, op.inSize);
          st = ns;
        }
        const isLast = i === ops.length - 1;
        this.ibpStep(op, st, n, !isLast, o.rounding === "float32");
        dense[i] = st;
        if (method === "crown" && !firstDense && ops[i + 1]?.kind === "relu") {
          this.refine(i, st, n, pure, lo0, hi0, m0, dense, relus, stats);
        }
        firstDense = false;
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
        const bl = this.backSubstitute(L, n, offs, false, (a, s0, s1) => {
          // Coefficients on the logits: e_y − e_j.
          const rows = (s1 - s0) * rowsPer;
          a.fill(0, 0, rows * classes);
          for (let s = s0, r = 0; s < s1; s++) {
            for (let j = 0; j < classes; j++) {
              if (j === labels[s]) continue;
              a[r * classes + labels[s]] = 1;
              a[r * classes + j] = -1;
              r++;
            }
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

  private denseState(op: DenseL, n: number, hasE: boolean): DenseState {
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
  private boxInto(st: DenseState, lo: Float64Array, hi: Float64Array, e: Float64Array, relu: boolean, n: number, size: number): void {
    const nn = n * size;
    const r = addr(st.rme);
    this.k.boxFromBounds(nn, addr(lo), addr(hi), addr(e), relu ? 1 : 0, st.hasE ? 1 : 0, addr(st.c), r, r + 4 * nn, r + 8 * nn);
  }

  /** IBP of a dense layer on st's input box; fills st.lo/hi, st.w and (if tracked) st.e. */
  private ibpStep(op: DenseL, st: DenseState, n: number, withBox: boolean, allowance: boolean): void {
    const { k } = this;
    const arena = this.scratch;
    const { inSize: nin, outSize: nout } = op;
    const mark = arena.mark();
    const cOut = arena.f32(n * nout);
    const absOut = arena.f32(3 * n * nout);
    const absRows = st.hasE ? 3 * n : 2 * n;
    if (withBox) {
      k.gemm(0, 1, n, nout, nin, addr(st.c), nin, op.w, nin, cOut.ptr, nout, 0, this.work);
      k.biasAddRows(cOut.ptr, op.b, n, nout);
      k.gemm(0, 1, absRows, nout, nin, addr(st.rme), nin, op.wAbs, nin, absOut.ptr, nout, 0, this.work);
    } else {
      // The last layer: only |W|·M (and |W|·E) of the unfolded layer are needed here.
      k.gemm(0, 1, absRows - n, nout, nin, addr(st.rme) + n * nin * 4, nin, op.wAbs, nin, absOut.ptr + n * nout * 4, nout, 0, this.work);
    }
    const gNet = gamma32(nin + 1);
    const g = this.errScale * gNet;
    const grow = 1 + this.errScale * (grow32(nin) - 1);
    const growNet = grow32(nin);
    // Per entry (float64, as up32/bump): mh = growNet·fl(|W|M) + |b|, w = up32(mh);
    // radius bump(grow·fl(|W|r) + g·mh) around fl(W·c + b); with the allowance, bounds.ts
    // roundingAllowance's E' = |W|E + γ_fanIn(|W|(M + E) + |b|) as bump(ein + gNet·(mh + ein)),
    // ein = growNet·fl(|W|E).
    k.ibpRadius(n, nout, cOut.ptr, absOut.ptr, op.b, st.hasE ? 1 : 0, withBox ? 1 : 0, allowance ? 1 : 0,
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

  /** CROWN bounds of the neurons of dense op i (IBP-unstable ones, or all if pure), intersected with IBP unless pure. */
  private refine(i: number, st: DenseState, n: number, pure: boolean, lo0: Float32Array, hi0: Float32Array, m0: Float32Array,
    dense: (DenseState | undefined)[], relus: (ReluState | undefined)[], stats?: FastStats): void {
    const op = this.ops[i] as DenseL;
    const nout = op.outSize;
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
    // Rows ±e_j pushed through op i exactly: ±W[j, :], constant ±b[j].
    // The ± rows stay exact negations of each other only up to the first GEMM: pairs only
    // when that GEMM is the first layer's (the ReLU before op i follows the first layer).
    const pairs = i === 2 && this.ops[1].kind === "relu";
    const res = this.backSubstitute(i - 1, n, offs, pairs, (a, s0, s1) => {
      const r0 = offs[s0];
      const rows = offs[s1] - r0;
      const mark = arena.mark();
      const ib = arena.i32(rows);
      ib.i32.set(idxAll.subarray(r0, r0 + rows));
      k.gatherSignedRows(op.w, op.inSize, ib.ptr, rows, addr(a));
      arena.release(mark);
      const c = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        const t = idxAll[r0 + r];
        c[r] = t >= 0 ? op.bias[t] : -op.bias[-t - 1];
      }
      return { width: op.inSize, c };
    }, lo0, hi0, m0, dense, relus, stats);
    if (pure) {
      st.lo.fill(-Infinity);
      st.hi.fill(Infinity);
    }
    which.forEach((at, q) => {
      const l = res.lower[2 * q];
      const u = -res.lower[2 * q + 1];
      st.lo[at] = pure ? l : Math.max(st.lo[at], l);
      st.hi[at] = pure ? u : Math.min(st.hi[at], u);
    });
  }

  /**
   * Lower bounds of linear functions of the output of ops[from] by back-substitution to the
   * input box. `start(a, s0, s1)` writes the coefficient rows of samples s0..s1−1 (rows
   * offs[s0] .. offs[s1]−1) into a and returns their width and constants. Returns per row the
   * bound (error subtracted) and the error bound.
   */
  private backSubstitute(from: number, n: number, offs: Int32Array, pairs: boolean,
    start: (a: Float32Array, s0: number, s1: number) => { width: number; c: Float64Array },
    lo0: Float32Array, hi0: Float32Array, m0: Float32Array,
    dense: (DenseState | undefined)[], relus: (ReluState | undefined)[], stats?: FastStats): { lower: Float64Array; err: Float64Array } {
    const { k, ops, dim, maxWidth } = this;
    const arena = this.scratch;
    const total = offs[n];
    const lower = new Float64Array(total);
    const err = new Float64Array(total);
    const mark = arena.mark();
    const t0 = performance.now();
    try {
      const maxPer = Math.max(...Array.from({ length: n }, (_, s) => offs[s + 1] - offs[s]));
      const chunkRows = Math.max(maxPer, Math.floor(CHUNK_FLOATS / maxWidth));
      let a = arena.f32(chunkRows * maxWidth).f32;
      let a2 = arena.f32(chunkRows * maxWidth).f32;
      const cT = arena.f32(chunkRows);
      const eT = arena.f32(chunkRows);
      const offB = arena.i32(n + 1);
      const first = ops[0] as DenseL;
      const compact = {
        a: arena.f32(maxPer * first.outSize).f32,
        w: arena.f32(first.outSize * first.inSize).f32,
        idx: arena.i32(first.outSize),
        idxU: arena.i32(first.outSize),
      };
      let s0 = 0;
      while (s0 < n) {
        let s1 = s0 + 1;
        while (s1 < n && offs[s1 + 1] - offs[s0] <= chunkRows) s1++;
        const r0 = offs[s0];
        const rows = offs[s1] - r0;
        const ns = s1 - s0;
        if (rows === 0) {
          s0 = s1;
          continue;
        }
        for (let s = 0; s <= ns; s++) offB.i32[s] = offs[s0 + s] - r0;
        const { width: w0, c } = start(a, s0, s1);
        const e = new Float64Array(rows);
        let width = w0;
        for (let p = from; p >= 0; p--) {
          const op = ops[p];
          if (op.kind === "relu") {
            const rx = relus[p]!;
            const vb = s0 * op.size * 4;
            k.relaxRows(addr(a), op.size, offB.ptr, ns, addr(rx.al) + vb, addr(rx.au) + vb, addr(rx.bu) + vb, addr(rx.w) + vb, cT.ptr, eT.ptr);
            const g = this.errScale * gamma32(op.size + 1) * grow32(op.size);
            for (let r = 0; r < rows; r++) {
              c[r] += cT.f32[r];
              e[r] += g * eT.f32[r];
            }
            continue;
          }
          const ds = dense[p]!;
          k.rowDots(addr(a), op.outSize, offB.ptr, ns, op.b, addr(ds.w) + s0 * op.outSize * 4, cT.ptr, eT.ptr);
          const g = this.errScale * gamma32(op.outSize + 1) * grow32(op.outSize);
          for (let r = 0; r < rows; r++) {
            c[r] += cT.f32[r];
            e[r] += g * eT.f32[r];
          }
          const after = relus[p + 1];
          if (stats) stats.denseFlops += 2 * rows * op.inSize * op.outSize;
          if (p === 0 && after) this.firstLayerProduct(op, a, a2, offB.i32, s0, ns, after, compact, pairs, stats);
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
        if (width !== dim) throw new Error(`internal: back-substitution ended at width ${width}, input is ${dim}`);
        const vb = s0 * dim * 4;
        k.concretizeRows(addr(a), dim, offB.ptr, ns, addr(lo0) + vb, addr(hi0) + vb, addr(m0) + vb, cT.ptr, eT.ptr);
        const g = this.errScale * gamma32(dim) * grow32(dim);
        for (let r = 0; r < rows; r++) {
          // 2^-50 of the magnitudes covers the float64 sums of c and of this line.
          const er = bump(e[r] + g * eT.f32[r]) + 2 ** -50 * (Math.abs(c[r]) + Math.abs(cT.f32[r]));
          lower[r0 + r] = c[r] + cT.f32[r] - er;
          err[r0 + r] = er;
        }
        s0 = s1;
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
  private foldedIbp(st: DenseState, labels: number[], n: number, lower: Float64Array, widen: Float64Array): void {
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

