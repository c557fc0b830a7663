// Margin lower bounds over an L∞ box: IBP, CROWN (linear relaxation back-substitution),
// CROWN-IBP, the Wong–Kolter dual network ("dual": the same back-substitution with the chord
// lower slope u/(u−l)) and α-CROWN (optimised lower slopes, alpha-crown.ts), per sample, in
// float64. The bound is on the margins m_j = z_y − z_j (j ≠ y) of the network that actually runs
// here (float32 WASM kernels), so besides the exact-arithmetic bound a rounding allowance is
// subtracted (see roundingAllowance).
import type { Model } from "../nn/model.js";
import { ALPHA_DEFAULTS, optimiseSlopes, type AlphaOptions } from "./alpha-crown.js";
import { DenseOp, networkOps, specOp, type AffineOp, type Op } from "./network.js";

export const BOUND_METHODS = ["ibp", "crown", "crown-ibp", "dual", "alpha-crown"] as const;
export type BoundMethod = (typeof BOUND_METHODS)[number];

export interface BoundOptions {
  method: BoundMethod;
  eps: number;
  /** Intersect the ball with [lo, hi] (default [0, 1]); null: no clipping. */
  clip?: { lo: number; hi: number } | null;
  /**
   * "float32" (default): bounds hold for the float32 network the kernels compute.
   * "none": bounds of the exact-arithmetic network (for comparison with references).
   */
  rounding?: "float32" | "none";
  /**
   * Pure CROWN: intermediate bounds from back-substitution alone (every neuron, no
   * intersection with IBP), and no max with IBP at the output — exactly the textbook formulas.
   * Default false: every bound is the intersection of IBP and CROWN (both sound).
   */
  pure?: boolean;
  /** α-CROWN: Adam steps on the slopes (default 20; 0 gives CROWN). */
  alphaIterations?: number;
  /** α-CROWN: Adam step size on α ∈ [0, 1] (default 0.1). */
  alphaStep?: number;
  /**
   * α-CROWN: also optimise the slopes of every intermediate bound (each unstable neuron's lower
   * and upper bound its own objective). Tighter, but costs iterations × the CROWN intermediate
   * bounds (on a 784-256-256-10 MLP, seconds per sample). Default false: CROWN's intermediate
   * bounds, optimised slopes in the last back-substitution only.
   */
  alphaIntermediate?: boolean;
}

/** α-CROWN's options with defaults filled in; bad values are one-line errors. */
export function alphaOptions(o: Pick<BoundOptions, "alphaIterations" | "alphaStep">): AlphaOptions {
  const iterations = o.alphaIterations ?? ALPHA_DEFAULTS.iterations;
  const step = o.alphaStep ?? ALPHA_DEFAULTS.step;
  if (!Number.isInteger(iterations) || iterations < 0) throw new Error(`α-CROWN iterations must be a non-negative integer, got ${iterations}`);
  if (!(step > 0) || !Number.isFinite(step)) throw new Error(`α-CROWN step must be a positive number, got ${step}`);
  return { iterations, step };
}

export interface SampleBounds {
  /** classes entries: lower bound of z_y − z_j; entry y is +Infinity. */
  lower: Float64Array;
  /** min over j ≠ y of lower. */
  lowest: number;
}

/** The input box: the ε-ball around x (float32 values) intersected with the clip range. */
export function inputBox(x: ArrayLike<number>, eps: number, clip: { lo: number; hi: number } | null): [Float64Array, Float64Array] {
  const n = x.length;
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // The attack projects in float32 (x ± ε rounded to nearest); widening by 2^-22·(|x|+ε)
    // (≥ one float32 ulp) keeps every point it can produce inside the box.
    const slack = 2 ** -22 * (Math.abs(x[i]) + eps);
    let l = x[i] - eps - slack;
    let h = x[i] + eps + slack;
    if (clip) {
      l = Math.max(clip.lo, l);
      h = Math.min(clip.hi, h);
    }
    lo[i] = l;
    hi[i] = h;
  }
  return [lo, hi];
}

/** Unit roundoff of float32 and γ_n = n·u / (1 − n·u) (Higham, Accuracy and Stability, §3.1). */
const U32 = 2 ** -24;
function gamma(n: number): number {
  return (n * U32) / (1 - n * U32);
}

/**
 * Rounding allowance for the float32 network, per logit. The rule: a float32 sum of n terms
 * (products, a bias; any order, SIMD lanes included) differs from the exact sum by at most
 * γ_n · Σ|terms| (Higham Thm 3.1/3.4; γ_{fanIn} counts every product and addition, fanIn
 * includes the bias and for pooling the rounded 1/K²). Writing M for a sound bound on |x| over
 * the box (from the intervals) and E for the accumulated error of the computed input x̃:
 *     E_out = |W|·E_in + γ_fanIn · (|W|·(M_in + E_in) + |b|)
 * ReLU is exact and 1-Lipschitz, so E passes through it unchanged. The computed margin
 * z̃_y − z̃_j (compared exactly by argmax) is then ≥ m_j − E_y − E_j. The float64 arithmetic
 * of the bounds themselves errs by about γ^{f64} ≈ 2^-29·γ^{f32} times comparable sums; the
 * allowance is doubled to absorb it.
 */
export function roundingAllowance(ops: Op[], boxes: [Float64Array, Float64Array][]): Float64Array {
  let e = new Float64Array(boxes[0][0].length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (op.kind === "relu") continue;
    const [lo, hi] = boxes[i];
    const mag = new Float64Array(lo.length);
    for (let k = 0; k < mag.length; k++) mag[k] = Math.max(Math.abs(lo[k]), Math.abs(hi[k])) + e[k];
    const g = gamma(op.fanIn);
    const prop = op.absApply(e);
    const m = op.absApply(mag);
    const ab = op.absBias();
    const next = new Float64Array(op.outSize);
    for (let k = 0; k < next.length; k++) next[k] = prop[k] + g * (m[k] + ab[k]);
    e = next;
  }
  return e.map((v) => 2 * v);
}

/** Lower and upper relaxation of ReLU on [l, u] per neuron: h ≥ al·z, h ≤ au·z + bu. */
export interface Relax {
  al: Float64Array;
  au: Float64Array;
  bu: Float64Array;
}

/**
 * The lower slope of an unstable ReLU (any value in [0, 1] is sound): "adaptive" is CROWN's
 * (1 when u > −l, else 0: the smaller-area triangle); "chord" is the Wong–Kolter dual network's
 * (u/(u−l), parallel to the upper line).
 */
export type LowerSlope = "adaptive" | "chord";

export function relax(l: Float64Array, u: Float64Array, lower: LowerSlope = "adaptive"): Relax {
  const n = l.length;
  const al = new Float64Array(n);
  const au = new Float64Array(n);
  const bu = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (l[i] >= 0) {
      al[i] = 1;
      au[i] = 1;
    } else if (u[i] <= 0) {
      // h = 0 exactly
    } else {
      const s = u[i] / (u[i] - l[i]);
      au[i] = s;
      bu[i] = -s * l[i];
      al[i] = lower === "chord" ? s : u[i] > -l[i] ? 1 : 0;
    }
  }
  return { al, au, bu };
}

/**
 * Lower bounds of the `rows` linear functions A·v + c, v the output of ops[end-1], over the
 * input box, by back-substitution. relaxes[i] is the relaxation of the ReLU at ops[i].
 */
export function backSubstitute(
  ops: Op[], end: number, a0: Float64Array, rows: number, relaxes: (Relax | undefined)[],
  lo: Float64Array, hi: Float64Array,
): Float64Array {
  let a = a0;
  const c = new Float64Array(rows);
  for (let i = end - 1; i >= 0; i--) {
    const op = ops[i];
    if (op.kind === "affine") {
      a = op.back(a, rows, c);
      continue;
    }
    const { al, au, bu } = relaxes[i]!;
    const n = op.size;
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      let cb = 0;
      for (let k = 0; k < n; k++) {
        const coef = a[base + k];
        if (coef >= 0) a[base + k] = coef * al[k];
        else {
          a[base + k] = coef * au[k];
          cb += coef * bu[k];
        }
      }
      c[r] += cb;
    }
  }
  const n = lo.length;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = c[r];
    const base = r * n;
    for (let k = 0; k < n; k++) {
      const coef = a[base + k];
      s += coef >= 0 ? coef * lo[k] : coef * hi[k];
    }
    out[r] = s;
  }
  return out;
}

/**
 * The network with the margin spec folded into its last layer, and every operator's input box:
 * boxes[i] is the input box of folded[i] (boxes[0] the input box, boxes[n] the margins' box),
 * relaxes[i] the relaxation of the ReLU at folded[i]. Intermediate boxes are IBP, or for
 * "crown", "dual" and "alpha-crown" refined by back-substitution (with the dual's chord slopes
 * for "dual"; with optimised slopes for "alpha-crown" when alphaIntermediate is set).
 * LP/MILP start from these.
 */
export interface Propagation {
  folded: Op[];
  boxes: [Float64Array, Float64Array][];
  relaxes: (Relax | undefined)[];
}

export function foldSpec(ops: Op[], classes: number, label: number): Op[] {
  const last = ops[ops.length - 1];
  return last instanceof DenseOp ? [...ops.slice(0, -1), specOp(last, classes, label)] : [...ops, specOp(last, classes, label)];
}

export function propagate(
  folded: Op[], lo0: Float64Array, hi0: Float64Array,
  o: { method: BoundMethod | string; pure?: boolean } & Pick<BoundOptions, "alphaIterations" | "alphaStep" | "alphaIntermediate">,
): Propagation {
  const boxes: [Float64Array, Float64Array][] = [[lo0, hi0]];
  const relaxes: (Relax | undefined)[] = [];
  const crownMid = o.method === "crown" || o.method === "dual" || o.method === "alpha-crown";
  const slope: LowerSlope = o.method === "dual" ? "chord" : "adaptive";
  const alpha = o.method === "alpha-crown" && o.alphaIntermediate === true ? alphaOptions(o) : null;
  const pure = o.pure === true;
  let firstAffineSeen = false;
  for (let i = 0; i < folded.length; i++) {
    const op = folded[i];
    const [lo, hi] = boxes[i];
    if (op.kind === "relu") {
      relaxes[i] = relax(lo, hi, slope);
      boxes.push([lo.map((v) => Math.max(0, v)), hi.map((v) => Math.max(0, v))]);
      continue;
    }
    let [ol, oh] = op.interval(lo, hi);
    // Refine the inputs of the next ReLU by back-substitution (full CROWN). After the first
    // affine operator IBP is already exact, so only deeper ones are back-substituted.
    if (crownMid && firstAffineSeen && folded[i + 1]?.kind === "relu") {
      const idx: number[] = [];
      for (let k = 0; k < op.outSize; k++) if (pure || (ol[k] < 0 && oh[k] > 0)) idx.push(k);
      if (idx.length > 0) {
        const rows = 2 * idx.length;
        const a = new Float64Array(rows * op.outSize);
        idx.forEach((k, r) => {
          a[2 * r * op.outSize + k] = 1;
          a[(2 * r + 1) * op.outSize + k] = -1;
        });
        const b = alpha ? optimiseSlopes(folded, i + 1, a, rows, relaxes, lo0, hi0, alpha) : backSubstitute(folded, i + 1, a, rows, relaxes, lo0, hi0);
        if (pure) {
          ol = new Float64Array(op.outSize);
          oh = new Float64Array(op.outSize);
        }
        idx.forEach((k, r) => {
          const l = b[2 * r];
          const u = -b[2 * r + 1];
          ol[k] = pure ? l : Math.max(ol[k], l);
          oh[k] = pure ? u : Math.min(oh[k], u);
        });
      }
    }
    firstAffineSeen = true;
    boxes.push([ol, oh]);
  }
  return { folded, boxes, relaxes };
}

/** Bounds for one sample x (float32 values, model.inputSize long) with label y. */
export function sampleBounds(model: Model, ops: Op[], x: ArrayLike<number>, label: number, o: BoundOptions): SampleBounds {
  const classes = model.outputSize;
  const clip = o.clip === undefined ? { lo: 0, hi: 1 } : o.clip;
  const [lo0, hi0] = inputBox(x, o.eps, clip);
  const { folded, boxes, relaxes } = propagate(foldSpec(ops, classes, label), lo0, hi0, o);
  const pure = o.pure === true;
  const n = folded.length;
  let lower: Float64Array;
  if (o.method === "ibp") lower = Float64Array.from(boxes[n][0]);
  else {
    const rows = classes - 1;
    const a = new Float64Array(rows * classes);
    const which: number[] = [];
    for (let j = 0, r = 0; j < classes; j++) {
      if (j === label) continue;
      a[r * classes + j] = 1;
      which.push(j);
      r++;
    }
    const b = backSubstitute(folded, n, a.slice(), rows, relaxes, lo0, hi0);
    if (o.method === "alpha-crown") {
      // Optimised slopes start from CROWN's and keep the best bound seen: never below b.
      const opt = alphaOptions(o);
      const best = optimiseSlopes(folded, n, a, rows, relaxes, lo0, hi0, opt);
      for (let r = 0; r < rows; r++) b[r] = Math.max(b[r], best[r]);
      if (o.alphaIntermediate === true) {
        // Tighter intermediate boxes need not give a tighter CROWN bound (the lower slopes may
        // flip), so CROWN's own bound with its own boxes is kept too: both are sound.
        const crown = propagate(folded, lo0, hi0, { method: "crown", pure });
        const bc = backSubstitute(folded, n, a.slice(), rows, crown.relaxes, lo0, hi0);
        for (let r = 0; r < rows; r++) b[r] = Math.max(b[r], bc[r], pure ? -Infinity : crown.boxes[n][0][which[r]]);
      }
    }
    lower = pure ? new Float64Array(classes) : Float64Array.from(boxes[n][0]);
    which.forEach((j, r) => (lower[j] = pure ? b[r] : Math.max(lower[j], b[r])));
  }
  if ((o.rounding ?? "float32") === "float32") {
    // The allowance walks the unfolded network: boxes[i] are also the inputs of ops[i] for
    // every operator before the (folded) last one, and the last one's input is shared.
    const e = roundingAllowance(ops, boxes.slice(0, ops.length));
    for (let j = 0; j < classes; j++) if (j !== label) lower[j] -= e[label] + e[j];
  }
  lower[label] = Infinity;
  let lowest = Infinity;
  for (let j = 0; j < classes; j++) {
    if (!Number.isFinite(lower[j]) && j !== label) throw new Error(`bound for margin ${j} is not finite`);
    if (j !== label) lowest = Math.min(lowest, lower[j]);
  }
  return { lower, lowest };
}

/** Margin lower bounds for n samples (x: n × inputSize float32 values). */
export function marginBounds(model: Model, x: Float32Array, y: ArrayLike<number>, o: BoundOptions): SampleBounds[] {
  if (!(o.eps >= 0) || !Number.isFinite(o.eps)) throw new Error(`ε must be a non-negative number, got ${o.eps}`);
  if (!(BOUND_METHODS as readonly string[]).includes(o.method)) throw new Error(`unknown bound method '${o.method}' (expected ${BOUND_METHODS.join(", ")})`);
  if (o.method === "alpha-crown") alphaOptions(o);
  const dim = model.inputSize;
  if (x.length !== y.length * dim) throw new Error(`x holds ${x.length} values; ${y.length} samples of ${dim} need ${y.length * dim}`);
  const ops = networkOps(model);
  const out: SampleBounds[] = [];
  for (let s = 0; s < y.length; s++) {
    const label = y[s];
    if (!Number.isInteger(label) || label < 0 || label >= model.outputSize) throw new Error(`label ${label} of sample ${s} is outside 0..${model.outputSize - 1}`);
    out.push(sampleBounds(model, ops, x.subarray(s * dim, (s + 1) * dim), label, o));
  }
  return out;
}

export type { AffineOp, Op };
