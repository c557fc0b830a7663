// The verdict on a VNNLIB property (src/io/vnnlib.ts): the spec describes an UNSAFE region,
// "∃ x in a disjunct's box with C·f(x) ≤ d". First falsify: sample each box (centre, corners,
// random points) and run sign-gradient descent on the violation max_r (C_r·f(x) − d_r) from
// the best samples, using the model's input gradients; a float32 point of the box whose float32
// outputs satisfy every row is a counterexample ("falsified", VNN-COMP "sat"). Otherwise bound
// each disjunct: C is folded into the last layer and the chosen bound method gives a lower
// bound of each row C_r·y − d_r over the box, less the float32 rounding allowance; a disjunct
// is infeasible when some row's bound is > 0. All infeasible: "certified" ("unsat"); else
// "unknown". As in verdict.ts, a sampled point below a proven bound is a bug and throws.
import { Stream } from "../core/random.js";
import type { VnnDisjunct, VnnSpec } from "../io/vnnlib.js";
import type { Model } from "../nn/model.js";
import { optimiseSlopes } from "./alpha-crown.js";
import { alphaOptions, backSubstitute, BOUND_METHODS, propagate, roundingAllowance, type BoundMethod } from "./bounds.js";
import { DenseOp, networkOps, type Op } from "./network.js";
import type { Verdict } from "./verdict.js";

export interface VnnVerifyOptions {
  method: BoundMethod;
  seed?: number;
  /** Points sampled per disjunct before the gradient search (default 256). */
  samples?: number;
  /** Sign-gradient steps per start (default 50). */
  steps?: number;
  /** Starts of the gradient search: the best samples (default 8). */
  restarts?: number;
  /** "none": bounds of the exact-arithmetic network only (default "float32", as bounds.ts). */
  rounding?: "float32" | "none";
}

export type DisjunctStatus = "violated" | "infeasible" | "open" | "empty";

export interface DisjunctResult {
  index: number;
  rows: number;
  /** violated: the counterexample satisfies it; infeasible: proven; empty: its box has no point. */
  status: DisjunctStatus;
  /** The largest proven lower bound of C_r·y − d_r over the rows (null when not bounded). */
  bestLowerBound: number | null;
  /** The row attaining it. */
  bestRow: number | null;
  /** The smallest violation max_r (C_r·y − d_r) the search reached (≤ 0: satisfied). */
  searchViolation: number | null;
}

export interface VnnVerdict {
  verdict: Verdict;
  /** The VNN-COMP answer: sat (a counterexample), unsat (property holds), unknown. */
  vnncomp: "sat" | "unsat" | "unknown";
  disjuncts: DisjunctResult[];
  counterexample?: { disjunct: number; x: number[]; y: number[] };
  attackSeconds: number;
  boundSeconds: number;
}

// ---------------------------------------------------------------------------------------------
// float32 grid helpers: the counterexample must be a float32 input inside the real box.

const f32 = new Float32Array(1);
const u32 = new Int32Array(f32.buffer);

/** The next float32 after x (a float32) towards +∞ (dir > 0) or −∞. */
function nextF32(x: number, dir: number): number {
  if (x === 0) return dir > 0 ? 2 ** -149 : -(2 ** -149);
  f32[0] = x;
  if (x > 0 === dir > 0) u32[0]++;
  else u32[0]--;
  return f32[0];
}

/** Smallest float32 ≥ v and largest float32 ≤ v. */
function ceil32(v: number): number {
  const r = Math.fround(v);
  return r >= v ? r : nextF32(r, 1);
}
function floor32(v: number): number {
  const r = Math.fround(v);
  return r <= v ? r : nextF32(r, -1);
}

/** max_r (C_r·y − d_r) and whether every row holds (strict rows strictly). */
function violation(dj: VnnDisjunct, y: ArrayLike<number>, outputs: number): { v: number; row: number; holds: boolean } {
  let v = -Infinity;
  let row = -1;
  let holds = true;
  for (let r = 0; r < dj.rows; r++) {
    let s = -dj.d[r];
    for (let j = 0; j < outputs; j++) s += dj.C[r * outputs + j] * y[j];
    if (s > v) {
      v = s;
      row = r;
    }
    if (dj.strict[r] ? !(s < 0) : !(s <= 0)) holds = false;
  }
  return { v, row, holds };
}

interface SearchResult {
  found?: { x: Float32Array; y: Float32Array };
  best: number;
  /** Per row, the smallest C_r·y − d_r seen at any point (for the soundness check). */
  rowMin: Float64Array;
}

/** Sampling then sign-gradient descent on the violation, inside the float32 box [lo, hi]. */
function search(model: Model, dj: VnnDisjunct, lo: Float32Array, hi: Float32Array, o: Required<Pick<VnnVerifyOptions, "samples" | "steps" | "restarts" | "seed">>, index: number): SearchResult {
  const dim = model.inputSize;
  const outputs = model.outputSize;
  const rng = new Stream(o.seed, 0x7e51, index);
  const cap = 64;
  const plan = model.plan(cap);
  const rowMin = new Float64Array(dj.rows).fill(Infinity);
  let best = Infinity;
  const scored: { v: number; x: Float32Array }[] = [];

  // Evaluates plan.input[0..m); returns the first point that holds, recording scores.
  const evaluate = (m: number, keep: boolean): { x: Float32Array; y: Float32Array } | undefined => {
    model.forward(plan, m);
    for (let s = 0; s < m; s++) {
      const y = plan.logits.subarray(s * outputs, (s + 1) * outputs);
      const r = violation(dj, y, outputs);
      for (let k = 0; k < dj.rows; k++) {
        let v = -dj.d[k];
        for (let j = 0; j < outputs; j++) v += dj.C[k * outputs + j] * y[j];
        rowMin[k] = Math.min(rowMin[k], v);
      }
      best = Math.min(best, r.v);
      const x = plan.input.slice(s * dim, (s + 1) * dim);
      if (r.holds) return { x, y: y.slice() };
      if (keep) scored.push({ v: r.v, x });
    }
    return undefined;
  };

  // 1. Samples: the centre, corners (all when few inputs, else random ones), uniform points.
  const corners = dim <= 10 ? 2 ** dim : 0;
  const total = Math.max(1, o.samples);
  for (let s0 = 0; s0 < total; s0 += cap) {
    const m = Math.min(cap, total - s0);
    for (let s = 0; s < m; s++) {
      const k = s0 + s;
      const row = plan.input.subarray(s * dim, (s + 1) * dim);
      for (let i = 0; i < dim; i++) {
        let t: number;
        if (k === 0) t = 0.5;
        else if (k <= corners) t = ((k - 1) >> i) & 1;
        else if (k % 3 === 0) t = rng.next() < 0.5 ? 0 : 1;
        else t = rng.next();
        const v = Math.fround(lo[i] + t * (hi[i] - lo[i]));
        row[i] = Math.min(hi[i], Math.max(lo[i], v));
      }
    }
    const found = evaluate(m, true);
    if (found) return { found, best, rowMin };
  }

  // 2. Sign-gradient descent on the active row from the best samples, with a shrinking step.
  scored.sort((a, b) => a.v - b.v);
  const starts = scored.slice(0, Math.min(o.restarts, cap, scored.length));
  if (dj.rows === 0 || starts.length === 0 || o.steps === 0) return { best, rowMin };
  const m = starts.length;
  const x = new Float32Array(m * dim);
  starts.forEach((s, k) => x.set(s.x, k * dim));
  const L = model.layers.length;
  const dy = model.rt.f32(plan.grads[L], m * outputs);
  const dx = model.rt.f32(plan.grads[0], m * dim);
  for (let step = 0; step < o.steps; step++) {
    plan.input.set(x);
    model.forward(plan, m);
    for (let s = 0; s < m; s++) {
      const r = violation(dj, plan.logits.subarray(s * outputs, (s + 1) * outputs), outputs);
      for (let j = 0; j < outputs; j++) dy[s * outputs + j] = dj.C[r.row * outputs + j];
    }
    model.backward(plan, m, { inputGrad: true, weightGrads: false });
    const frac = 0.25 * (1 - step / o.steps) + 0.01;
    for (let k = 0; k < m * dim; k++) {
      const i = k % dim;
      const g = dx[k];
      if (g === 0) continue;
      const v = Math.fround(x[k] - Math.sign(g) * frac * (hi[i] - lo[i]));
      x[k] = Math.min(hi[i], Math.max(lo[i], v));
    }
    plan.input.set(x);
    const found = evaluate(m, false);
    if (found) return { found, best, rowMin };
  }
  return { best, rowMin };
}

// ---------------------------------------------------------------------------------------------
// Bounds

/** The network with the rows C·y − d folded into its last layer (or appended to it). */
function foldRows(ops: Op[], C: Float64Array, d: Float64Array, rows: number, outputs: number): Op[] {
  const last = ops[ops.length - 1];
  if (last instanceof DenseOp) {
    const n = last.inSize;
    const w = new Float64Array(rows * n);
    const b = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let bias = -d[r];
      for (let j = 0; j < outputs; j++) {
        const c = C[r * outputs + j];
        if (c === 0) continue;
        bias += c * last.b[j];
        for (let i = 0; i < n; i++) w[r * n + i] += c * last.w[j * n + i];
      }
      b[r] = bias;
    }
    return [...ops.slice(0, -1), new DenseOp(n, rows, w, b)];
  }
  return [...ops, new DenseOp(outputs, rows, Float64Array.from(C), d.map((v) => -v))];
}

/** Lower bounds of C_r·y − d_r over the disjunct's box, sound for the float32 network too. */
export function rowLowerBounds(model: Model, ops: Op[], dj: VnnDisjunct, o: Pick<VnnVerifyOptions, "method" | "rounding">): Float64Array {
  const outputs = model.outputSize;
  const rows = dj.rows;
  const lo = dj.inputLo;
  const hi = dj.inputHi;
  const folded = foldRows(ops, dj.C, dj.d, rows, outputs);
  const { boxes, relaxes } = propagate(folded, lo, hi, { method: o.method });
  const n = folded.length;
  const lower = Float64Array.from(boxes[n][0]);
  if (o.method !== "ibp") {
    const a = new Float64Array(rows * rows);
    for (let r = 0; r < rows; r++) a[r * rows + r] = 1;
    const b = backSubstitute(folded, n, a.slice(), rows, relaxes, lo, hi);
    if (o.method === "alpha-crown") {
      const best = optimiseSlopes(folded, n, a, rows, relaxes, lo, hi, alphaOptions({}));
      for (let r = 0; r < rows; r++) b[r] = Math.max(b[r], best[r]);
    }
    for (let r = 0; r < rows; r++) lower[r] = Math.max(lower[r], b[r]);
  }
  if ((o.rounding ?? "float32") === "float32") {
    // The float32 outputs ỹ satisfy |ỹ_j − y_j| ≤ e_j, so C_r·ỹ − d_r ≥ C_r·y − d_r − Σ|C_rj|·e_j.
    // The constants C, d themselves were rounded to float64 when parsed: 2^-50 of their
    // magnitude against the largest |y| covers that.
    const e = roundingAllowance(ops, boxes.slice(0, ops.length));
    const lastOp = ops[ops.length - 1];
    const [ilo, ihi] = boxes[ops.length - 1];
    const [ylo, yhi] = lastOp.kind === "affine" ? lastOp.interval(ilo, ihi) : [ilo.map((v) => Math.max(0, v)), ihi.map((v) => Math.max(0, v))];
    for (let r = 0; r < rows; r++) {
      let slack = Math.abs(dj.d[r]) * 2 ** -50;
      for (let j = 0; j < outputs; j++) {
        const c = Math.abs(dj.C[r * outputs + j]);
        slack += c * (e[j] + Math.max(Math.abs(ylo[j]), Math.abs(yhi[j])) * 2 ** -50);
      }
      lower[r] -= slack;
    }
  }
  return lower;
}

/** Verifies a parsed VNNLIB property on a model. */
export function verifyVnnlib(model: Model, spec: VnnSpec, o: VnnVerifyOptions): VnnVerdict {
  if (!(BOUND_METHODS as readonly string[]).includes(o.method)) throw new Error(`unknown bound method '${o.method}' (expected ${BOUND_METHODS.join(", ")})`);
  if (spec.inputs !== model.inputSize) throw new Error(`the spec has ${spec.inputs} inputs (X_0..X_${spec.inputs - 1}) but the model takes ${model.inputSize}`);
  if (spec.outputs !== model.outputSize) throw new Error(`the spec has ${spec.outputs} outputs (Y_0..Y_${spec.outputs - 1}) but the model gives ${model.outputSize}`);
  const so = { samples: o.samples ?? 256, steps: o.steps ?? 50, restarts: o.restarts ?? 8, seed: o.seed ?? 0 };
  for (const [k, v] of Object.entries(so)) if (!Number.isInteger(v) || v < 0) throw new Error(`${k} must be a non-negative integer, got ${v}`);
  const results: DisjunctResult[] = spec.disjuncts.map((dj, index) => ({
    index, rows: dj.rows, status: dj.empty ? "empty" : "open", bestLowerBound: null, bestRow: null, searchViolation: null,
  }));
  const t0 = performance.now();
  const searched: (SearchResult | undefined)[] = [];
  let counterexample: VnnVerdict["counterexample"];
  for (let k = 0; k < spec.disjuncts.length && !counterexample; k++) {
    const dj = spec.disjuncts[k];
    if (dj.empty) continue;
    const lo = Float32Array.from(dj.inputLo, ceil32);
    const hi = Float32Array.from(dj.inputHi, floor32);
    if (lo.some((v, i) => v > hi[i])) continue; // no float32 point inside: nothing to run
    const r = search(model, dj, lo, hi, so, k);
    searched[k] = r;
    results[k].searchViolation = r.best;
    if (r.found) {
      results[k].status = "violated";
      counterexample = { disjunct: k, x: Array.from(r.found.x), y: Array.from(r.found.y) };
    }
  }
  const t1 = performance.now();
  if (counterexample) {
    return { verdict: "falsified", vnncomp: "sat", disjuncts: results, counterexample, attackSeconds: (t1 - t0) / 1000, boundSeconds: 0 };
  }
  const ops = networkOps(model);
  for (let k = 0; k < spec.disjuncts.length; k++) {
    const dj = spec.disjuncts[k];
    if (dj.empty || dj.rows === 0) continue;
    const lower = rowLowerBounds(model, ops, dj, o);
    let bestRow = 0;
    for (let r = 1; r < dj.rows; r++) if (lower[r] > lower[bestRow] || Number.isNaN(lower[bestRow])) bestRow = r;
    results[k].bestRow = bestRow;
    results[k].bestLowerBound = lower[bestRow];
    if (lower[bestRow] > 0) results[k].status = "infeasible";
    // Soundness check: every sampled point respects every proven row bound.
    const seen = searched[k];
    if (seen) {
      for (let r = 0; r < dj.rows; r++) {
        if (seen.rowMin[r] < lower[r]) {
          throw new Error(`internal error: disjunct ${k} row ${r}: a sampled point gives ${seen.rowMin[r]}, below the proven lower bound ${lower[r]}`);
        }
      }
    }
  }
  const t2 = performance.now();
  const proven = results.every((r) => r.status === "infeasible" || r.status === "empty");
  return {
    verdict: proven ? "certified" : "unknown", vnncomp: proven ? "unsat" : "unknown", disjuncts: results,
    attackSeconds: (t1 - t0) / 1000, boundSeconds: (t2 - t1) / 1000,
  };
}
