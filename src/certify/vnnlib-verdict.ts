// The verdict on a VNNLIB property (src/io/vnnlib.ts): the spec describes an UNSAFE region,
// "∃ x in a disjunct's box with C·f(x) ≤ d". First falsify: sample each box (centre, corners,
// random points) and run sign-gradient descent on the violation max_r (C_r·f(x) − d_r) from
// the best samples, using the model's input gradients; a float32 point of the box whose float32
// outputs satisfy every row is a counterexample ("falsified", VNN-COMP "sat"). Otherwise bound
// each disjunct. Bound methods: C is folded into the last layer and the method gives a lower
// bound of each row C_r·y − d_r over the box, less the float32 rounding allowance; the
// disjunct is infeasible when some row's bound is > 0. lp/milp bound the conjunction itself,
// min over the box of max_r (C_r·y − d_r) (conjunction.ts); a MILP point satisfying every row
// on the float32 network is a counterexample too. auto: ibp → crown → alpha-crown → milp per
// open disjunct, until one decides it. All infeasible: "certified" ("unsat"); else "unknown".
// As in verdict.ts, a sampled point below a proven bound is a bug and throws.
import { Stream } from "../core/random.js";
import type { VnnDisjunct, VnnSpec } from "../io/vnnlib.js";
import type { Model } from "../nn/model.js";
import { optimiseSlopes } from "./alpha-crown.js";
import { alphaOptions, backSubstitute, propagate, type BoundMethod } from "./bounds.js";
import { foldRows, lpConjunction, milpConjunction, rowAllowance, type ConjunctionStatus, type PointCheck } from "./conjunction.js";
import { loadHighs, type Highs } from "./highs.js";
import { networkOps, type Op } from "./network.js";
import type { TightenMode } from "./tighten.js";
import { CERTIFY_METHODS, type CertifyMethod, type Verdict } from "./verdict.js";

/** auto's stages after the search, cheap to expensive (as verdict.ts's for samples). */
const AUTO_STAGES: CertifyMethod[] = ["ibp", "crown", "alpha-crown", "milp"];

export interface VnnVerifyOptions {
  /** A bound method, lp, milp or auto (lp, milp, auto: verifyVnnlibAsync only). */
  method: CertifyMethod;
  /** lp/milp: solver seconds per disjunct (default 10; LP tightening gets as long again). */
  timeLimit?: number;
  /** milp: branch-and-bound nodes per disjunct. */
  nodeLimit?: number;
  /** lp/milp intermediate bounds (conjunction.ts defaults: none for lp, lp for milp). */
  tighten?: TightenMode;
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
  /**
   * The best proven lower bound of min over the box of max_r (C_r·y − d_r): a single row's
   * (bound methods) or the conjunction's (lp, milp); null when not bounded.
   */
  bestLowerBound: number | null;
  /** The row whose bound it is; null when it bounds the conjunction (lp, milp). */
  bestRow: number | null;
  /** What settled the status: "search" or a method (with auto, the stage); null when open. */
  decidedBy: string | null;
  /** lp/milp: how the last solve ended (optimal, decided, limit, failed); else null. */
  solverStatus: ConjunctionStatus | null;
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

/** Lower bounds of C_r·y − d_r over the disjunct's box, sound for the float32 network too. */
export function rowLowerBounds(model: Model, ops: Op[], dj: VnnDisjunct, o: { method: BoundMethod; rounding?: "float32" | "none" }): Float64Array {
  const outputs = model.outputSize;
  const rows = dj.rows;
  const lo = dj.inputLo;
  const hi = dj.inputHi;
  const folded = foldRows(ops, dj, outputs);
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
    // C_r·ỹ − d_r ≥ C_r·y − d_r − a_r for the float32 outputs ỹ (conjunction.ts rowAllowance).
    const a = rowAllowance(ops, boxes, dj, outputs);
    for (let r = 0; r < rows; r++) lower[r] -= a[r];
  }
  return lower;
}

const needsSolver = (method: CertifyMethod) => method === "lp" || method === "milp" || method === "auto";

/** Verifies a parsed VNNLIB property on a model with a bound method (lp/milp/auto: verifyVnnlibAsync). */
export function verifyVnnlib(model: Model, spec: VnnSpec, o: VnnVerifyOptions): VnnVerdict {
  if (needsSolver(o.method)) throw new Error(`method '${o.method}' needs the HiGHS solver: use verifyVnnlibAsync`);
  return verify(model, spec, o, undefined);
}

/** Verifies a parsed VNNLIB property on a model with any certification method. */
export async function verifyVnnlibAsync(model: Model, spec: VnnSpec, o: VnnVerifyOptions): Promise<VnnVerdict> {
  checkMethod(o.method);
  return verify(model, spec, o, needsSolver(o.method) ? await loadHighs() : undefined);
}

function checkMethod(method: string): void {
  if (!(CERTIFY_METHODS as readonly string[]).includes(method)) throw new Error(`unknown method '${method}' (expected ${CERTIFY_METHODS.join(", ")})`);
}

/** Whether the float32 network satisfies every row of dj at x (one float32 point). */
function pointCheck(model: Model, dj: VnnDisjunct): PointCheck & { outputs(x: Float32Array): Float32Array } {
  const outputs = (x: Float32Array): Float32Array => {
    const plan = model.plan(1);
    plan.input.set(x);
    model.forward(plan, 1);
    return plan.logits.slice(0, model.outputSize);
  };
  return {
    lo: Float32Array.from(dj.inputLo, ceil32),
    hi: Float32Array.from(dj.inputHi, floor32),
    holds: (x) => violation(dj, outputs(x), model.outputSize).holds,
    outputs,
  };
}

function verify(model: Model, spec: VnnSpec, o: VnnVerifyOptions, h: Highs | undefined): VnnVerdict {
  checkMethod(o.method);
  if (spec.inputs !== model.inputSize) throw new Error(`the spec has ${spec.inputs} inputs (X_0..X_${spec.inputs - 1}) but the model takes ${model.inputSize}`);
  if (spec.outputs !== model.outputSize) throw new Error(`the spec has ${spec.outputs} outputs (Y_0..Y_${spec.outputs - 1}) but the model gives ${model.outputSize}`);
  const so = { samples: o.samples ?? 256, steps: o.steps ?? 50, restarts: o.restarts ?? 8, seed: o.seed ?? 0 };
  for (const [k, v] of Object.entries(so)) if (!Number.isInteger(v) || v < 0) throw new Error(`${k} must be a non-negative integer, got ${v}`);
  if (o.timeLimit !== undefined && !(o.timeLimit > 0)) throw new Error(`time limit must be a positive number of seconds, got ${o.timeLimit}`);
  if (o.nodeLimit !== undefined && !(Number.isInteger(o.nodeLimit) && o.nodeLimit >= 0)) throw new Error(`node limit must be a non-negative integer, got ${o.nodeLimit}`);
  const results: DisjunctResult[] = spec.disjuncts.map((dj, index) => ({
    index, rows: dj.rows, status: dj.empty ? "empty" : "open", bestLowerBound: null, bestRow: null, decidedBy: null, solverStatus: null, searchViolation: null,
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
      results[k].decidedBy = "search";
      counterexample = { disjunct: k, x: Array.from(r.found.x), y: Array.from(r.found.y) };
    }
  }
  const t1 = performance.now();
  if (counterexample) {
    return { verdict: "falsified", vnncomp: "sat", disjuncts: results, counterexample, attackSeconds: (t1 - t0) / 1000, boundSeconds: 0 };
  }
  const ops = networkOps(model);
  const stages = o.method === "auto" ? AUTO_STAGES : [o.method];
  const exact = { rounding: o.rounding, tighten: o.tighten, timeLimit: o.timeLimit, nodeLimit: o.nodeLimit };
  for (let k = 0; k < spec.disjuncts.length && !counterexample; k++) {
    const dj = spec.disjuncts[k];
    if (dj.empty || dj.rows === 0) continue;
    const res = results[k];
    const seen = searched[k];
    const raise = (bound: number, row: number | null) => {
      if (res.bestLowerBound === null || bound > res.bestLowerBound || Number.isNaN(res.bestLowerBound)) {
        res.bestLowerBound = bound;
        res.bestRow = row;
      }
    };
    for (const stage of stages) {
      if (stage !== "lp" && stage !== "milp") {
        const lower = rowLowerBounds(model, ops, dj, { method: stage as BoundMethod, rounding: o.rounding });
        let bestRow = 0;
        for (let r = 1; r < dj.rows; r++) if (lower[r] > lower[bestRow] || Number.isNaN(lower[bestRow])) bestRow = r;
        raise(lower[bestRow], bestRow);
        // Soundness check: every sampled point respects every proven row bound.
        if (seen) {
          for (let r = 0; r < dj.rows; r++) {
            if (seen.rowMin[r] < lower[r]) {
              throw new Error(`internal error: disjunct ${k} row ${r}: a sampled point gives ${seen.rowMin[r]}, below the proven lower bound ${lower[r]}`);
            }
          }
        }
        if (lower[bestRow] > 0) {
          res.status = "infeasible";
          res.decidedBy = stage;
          break;
        }
        continue;
      }
      if (!h) throw new Error(`internal error: method '${stage}' without the solver`);
      const check = pointCheck(model, dj);
      const r = (stage === "lp" ? lpConjunction : milpConjunction)(h, ops, model.outputSize, dj.inputLo, dj.inputHi, dj, exact, check);
      res.solverStatus = r.status;
      raise(r.lower, null);
      // Soundness checks: the search's best point and a solver's point lie above the bound.
      if (seen && seen.best < r.lower) throw new Error(`internal error: disjunct ${k}: a sampled point reaches ${seen.best}, below the proven bound ${r.lower} of ${stage}`);
      if (r.counterexample) {
        const y = check.outputs(r.counterexample);
        const v = violation(dj, y, model.outputSize).v;
        if (v < r.lower) throw new Error(`internal error: disjunct ${k}: the ${stage} counterexample reaches ${v}, below the proven bound ${r.lower}`);
        res.status = "violated";
        res.decidedBy = stage;
        counterexample = { disjunct: k, x: Array.from(r.counterexample), y: Array.from(y) };
        break;
      }
      if (r.lower > 0) {
        res.status = "infeasible";
        res.decidedBy = stage;
        break;
      }
    }
  }
  const t2 = performance.now();
  const base = { disjuncts: results, attackSeconds: (t1 - t0) / 1000, boundSeconds: (t2 - t1) / 1000 };
  if (counterexample) return { verdict: "falsified", vnncomp: "sat", counterexample, ...base };
  const proven = results.every((r) => r.status === "infeasible" || r.status === "empty");
  return { verdict: proven ? "certified" : "unknown", vnncomp: proven ? "unsat" : "unknown", ...base };
}
