// The LP relaxation of a ReLU network (the "triangle" relaxation of Ehlers 2017; the primal of
// the Wong–Kolter dual): every neuron is a variable bounded by the intermediate box from
// propagate (CROWN), stable ReLUs are linear, and each unstable one (l < 0 < u) is relaxed
// to its convex hull h ≥ 0, h ≥ z, h ≤ u(z − l)/(u − l). With the same intermediate bounds
// it is at least as tight as CROWN. Each margin row z_y − z_j is minimised by HiGHS; the
// reported bound comes from the row duals through weak duality (highs.ts), so it is sound
// whatever the solver's status or tolerances. The MILP (milp.ts) adds one binary per
// unstable ReLU to the same program.
import type { Model } from "../nn/model.js";
import { foldSpec, inputBox, propagate, roundingAllowance } from "./bounds.js";
import { createHighsModel, loadHighs, ProgramBuilder, weakDualBound, type Highs, type LinearProgram } from "./highs.js";
import { DenseOp, networkOps, type AffineOp, type Op } from "./network.js";

/** The network to bound: a Model, or its operators (networkOps) and class count. */
export type BoundedNetwork = Model | { ops: Op[]; classes: number };

export interface ExactBoundOptions {
  eps: number;
  /** Intersect the ball with [lo, hi] (default [0, 1]); null: no clipping. */
  clip?: { lo: number; hi: number } | null;
  /** "float32" (default): bounds hold for the float32 network; "none": exact arithmetic. */
  rounding?: "float32" | "none";
  /** Classes j whose margin z_y − z_j to solve (default every j ≠ label); the rest are "skipped". */
  margins?: ArrayLike<number>;
  /** Solver time limit per margin, seconds (default 10). */
  timeLimit?: number;
  /** Stop as soon as a point of the ball with a negative margin is found (the rest: "skipped"). */
  stopOnViolation?: boolean;
}

/**
 * optimal: solved to optimality; decided (MILP): stopped before optimality with the margin's
 * sign settled (bound > 0, or a point with a negative margin);
 * limit: the time limit hit first (the lower bound still holds, it is only weaker);
 * failed: the solver gave nothing usable (lower bound from the variable box alone);
 * skipped: not solved (not asked for, the label itself, or after an early stop).
 */
export type MarginStatus = "optimal" | "decided" | "limit" | "failed" | "skipped";

export interface Counterexample {
  /** A point of the ε-ball (float32 values, within the clip range). */
  x: Float32Array;
  /** The class j whose margin z_y − z_j is negative there. */
  margin: number;
  /** z_y − z_j at x in float64 arithmetic (the caller checks the float32 network). */
  value: number;
}

export interface ExactBounds {
  /** Per class: a lower bound of z_y − z_j over the ball; +∞ at the label, −∞ where skipped. */
  lower: Float64Array;
  /** Per class: z_y − z_j (float64) at the best point the solver found in the ball; +∞ if none. */
  upper: Float64Array;
  status: MarginStatus[];
  /** min over j ≠ label of lower. */
  lowest: number;
  counterexample?: Counterexample;
  /** Wall time of the solves, seconds. */
  seconds: number;
}

/** Row-compressed W and the bias b of an affine operator, exactly as its float64 map. */
export function affineRows(op: AffineOp): { starts: Int32Array; indices: Int32Array; values: Float64Array; bias: Float64Array } {
  const { inSize: n, outSize: m } = op;
  const starts = new Int32Array(m + 1);
  const idx: number[] = [];
  const val: number[] = [];
  const bias = new Float64Array(m);
  if (op instanceof DenseOp) {
    for (let o = 0; o < m; o++) {
      for (let i = 0; i < n; i++) {
        const v = op.w[o * n + i];
        if (v !== 0) {
          idx.push(i);
          val.push(v);
        }
      }
      starts[o + 1] = idx.length;
      bias[o] = op.b[o];
    }
  } else {
    // back() of unit rows is W's rows and adds b into c — exact, since each entry is one
    // product by 1 (plus exact zeros). Chunked so conv layers never form W densely.
    const chunk = Math.max(1, Math.min(m, Math.floor(2 ** 21 / Math.max(n, 1))));
    for (let s = 0; s < m; s += chunk) {
      const rows = Math.min(chunk, m - s);
      const a = new Float64Array(rows * m);
      for (let r = 0; r < rows; r++) a[r * m + s + r] = 1;
      const c = new Float64Array(rows);
      const w = op.back(a, rows, c);
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < n; i++) {
          const v = w[r * n + i];
          if (v !== 0) {
            idx.push(i);
            val.push(v);
          }
        }
        starts[s + r + 1] = idx.length;
        bias[s + r] = c[r];
      }
    }
  }
  return { starts, indices: Int32Array.from(idx), values: Float64Array.from(val), bias };
}

/** One sample's margin problem: the folded network, its boxes, and the program over them. */
export interface MarginProblem {
  classes: number;
  label: number;
  /** The margins to solve (classes j ≠ label). */
  margins: number[];
  folded: Op[];
  /** The input box (inputBox, widened by an ulp) and the un-widened ball a counterexample lies in. */
  lo0: Float64Array;
  hi0: Float64Array;
  ballLo: Float32Array;
  ballHi: Float32Array;
  /** Per class: the float32 rounding allowance subtracted from its bound (0 with rounding "none"). */
  allowance: Float64Array;
  program: LinearProgram;
  /** Column of each input coordinate. */
  inputCols: Int32Array;
  /** Column of margin j's value (−1 where not modelled). */
  marginCols: Int32Array;
  /** Unstable ReLUs (one binary each in the MILP). */
  unstable: number;
}

/** The neighbouring float32 of a float32 value v, upwards (dir 1) or downwards (−1). */
function nextFloat32(v: number, dir: 1 | -1): number {
  if (v === 0) return dir * 2 ** -149;
  const f = new Float32Array([v]);
  const i = new Int32Array(f.buffer);
  i[0] += (v > 0) === (dir > 0) ? 1 : -1;
  return f[0];
}

function validate(net: BoundedNetwork, x: ArrayLike<number>, label: number, o: ExactBoundOptions): { ops: Op[]; classes: number; margins: number[] } {
  const ops = "ops" in net ? net.ops : networkOps(net);
  const classes = "ops" in net ? net.classes : net.outputSize;
  if (!(o.eps >= 0) || !Number.isFinite(o.eps)) throw new Error(`ε must be a non-negative number, got ${o.eps}`);
  if (o.timeLimit !== undefined && !(o.timeLimit > 0)) throw new Error(`time limit must be a positive number of seconds, got ${o.timeLimit}`);
  if (!Number.isInteger(label) || label < 0 || label >= classes) throw new Error(`label ${label} is outside 0..${classes - 1}`);
  const first = ops[0];
  const inSize = first === undefined ? classes : first.kind === "relu" ? first.size : first.inSize;
  if (x.length !== inSize) throw new Error(`x holds ${x.length} values; the network takes ${inSize}`);
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new Error(`x[${i}] is not finite`);
  let margins: number[];
  if (o.margins === undefined) margins = Array.from({ length: classes }, (_, j) => j).filter((j) => j !== label);
  else {
    margins = [];
    for (let k = 0; k < o.margins.length; k++) {
      const j = o.margins[k];
      if (!Number.isInteger(j) || j < 0 || j >= classes) throw new Error(`margin class ${j} is outside 0..${classes - 1}`);
      if (j !== label && !margins.includes(j)) margins.push(j);
    }
  }
  return { ops, classes, margins };
}

/**
 * Builds the margin problem of one sample. With integer: each unstable ReLU also gets a binary
 * a (a = 1: active) and the big-M rows h ≤ z − l(1 − a), h ≤ u·a, which with h ≥ 0, h ≥ z make
 * h = max(0, z) exactly; the triangle row stays (it is the big-M rows' LP relaxation).
 */
export function marginProblem(net: BoundedNetwork, x: ArrayLike<number>, label: number, o: ExactBoundOptions, integer: boolean): MarginProblem {
  const { ops, classes, margins } = validate(net, x, label, o);
  const clip = o.clip === undefined ? { lo: 0, hi: 1 } : o.clip;
  const [lo0, hi0] = inputBox(x, o.eps, clip);
  const folded = foldSpec(ops, classes, label);
  const { boxes } = propagate(folded, lo0, hi0, { method: "crown" });
  const allowance = new Float64Array(classes);
  if ((o.rounding ?? "float32") === "float32") {
    const e = roundingAllowance(ops, boxes.slice(0, ops.length));
    for (let j = 0; j < classes; j++) allowance[j] = j === label ? 0 : e[label] + e[j];
  }
  // The ball a counterexample may come from: x ± ε rounded to float32, as the attack projects
  // (inside the widened box lo0..hi0 by inputBox's construction; nudged in if clip is not a float32).
  const ballLo = new Float32Array(x.length);
  const ballHi = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    let l = Math.fround(x[i] - o.eps);
    let h = Math.fround(x[i] + o.eps);
    if (clip) {
      l = Math.max(Math.fround(clip.lo), l);
      h = Math.min(Math.fround(clip.hi), h);
    }
    while (l < lo0[i]) l = nextFloat32(l, 1);
    while (h > hi0[i]) h = nextFloat32(h, -1);
    if (l > h) throw new Error(`the ε-ball around x[${i}] = ${x[i]} does not meet the clip range`);
    ballLo[i] = l;
    ballHi[i] = h;
  }

  const b = new ProgramBuilder();
  const inputCols = new Int32Array(lo0.length);
  for (let i = 0; i < lo0.length; i++) inputCols[i] = b.addCol(lo0[i], hi0[i]);
  // cur[k]: the column holding neuron k of the current layer, or −1 where it is exactly 0.
  let cur: Int32Array = inputCols;
  let unstable = 0;
  const marginCols = new Int32Array(classes).fill(-1);
  const n = folded.length;
  for (let i = 0; i < n; i++) {
    const op = folded[i];
    const [l, u] = boxes[i];
    if (op.kind === "relu") {
      const next = new Int32Array(op.size);
      for (let k = 0; k < op.size; k++) {
        const z = cur[k];
        if (z < 0 || u[k] <= 0) next[k] = -1;
        else if (l[k] >= 0) next[k] = z;
        else {
          unstable++;
          const h = b.addCol(0, u[k]);
          next[k] = h;
          b.addRow([h, z], [1, -1], 0, Infinity);
          const s = u[k] / (u[k] - l[k]);
          b.addRow([h, z], [1, -s], -Infinity, -s * l[k]);
          if (integer) {
            const a = b.addCol(0, 1, true);
            b.addRow([h, z, a], [1, -1, -l[k]], -Infinity, -l[k]);
            b.addRow([h, a], [1, -u[k]], -Infinity, 0);
          }
        }
      }
      cur = next;
      continue;
    }
    const rows = affineRows(op);
    const [ol, oh] = boxes[i + 1];
    const last = i === n - 1;
    const next = new Int32Array(op.outSize).fill(-1);
    const outs = last ? margins : Array.from({ length: op.outSize }, (_, k) => k);
    for (const k of outs) {
      const col = b.addCol(ol[k], oh[k]);
      next[k] = col;
      // col − Σ W_kc v_c = b_k
      const cols = [col];
      const vals = [1];
      for (let t = rows.starts[k]; t < rows.starts[k + 1]; t++) {
        const v = cur[rows.indices[t]];
        if (v < 0) continue;
        cols.push(v);
        vals.push(-rows.values[t]);
      }
      b.addRow(cols, vals, rows.bias[k], rows.bias[k]);
    }
    if (last) for (const j of margins) marginCols[j] = next[j];
    cur = next;
  }
  return { classes, label, margins, folded, lo0, hi0, ballLo, ballHi, allowance, program: b.build(), inputCols, marginCols, unstable };
}

/** The folded network's outputs (margins z_y − z_j) at x, in float64. */
export function evalMargins(folded: Op[], x: ArrayLike<number>): Float64Array {
  let v: Float64Array = Float64Array.from(x);
  for (const op of folded) v = op.kind === "relu" ? v.map((t) => Math.max(0, t)) : op.apply(v);
  return v;
}

/** The solver's input values projected into the float32 ball, and every margin there. */
export function pointOf(p: MarginProblem, colValue: ArrayLike<number>): { x: Float32Array; margins: Float64Array } {
  const x = new Float32Array(p.inputCols.length);
  for (let i = 0; i < x.length; i++) {
    const v = Math.fround(colValue[p.inputCols[i]]);
    x[i] = Math.min(p.ballHi[i], Math.max(p.ballLo[i], Number.isFinite(v) ? v : p.ballLo[i]));
  }
  return { x, margins: evalMargins(p.folded, x) };
}

/** Results initialised for a problem: every margin skipped. */
export function emptyBounds(p: MarginProblem): ExactBounds {
  const lower = new Float64Array(p.classes).fill(-Infinity);
  lower[p.label] = Infinity;
  return { lower, upper: new Float64Array(p.classes).fill(Infinity), status: new Array(p.classes).fill("skipped"), lowest: -Infinity, seconds: 0 };
}

/** Records a point found by a solver: its margins tighten `upper`, a negative one is a counterexample. */
export function notePoint(p: MarginProblem, r: ExactBounds, colValue: ArrayLike<number>): void {
  const { x, margins } = pointOf(p, colValue);
  for (let j = 0; j < p.classes; j++) {
    if (j === p.label) continue;
    r.upper[j] = Math.min(r.upper[j], margins[j]);
    if (margins[j] < 0 && (!r.counterexample || margins[j] < r.counterexample.value)) r.counterexample = { x, margin: j, value: margins[j] };
  }
}

export function finishBounds(r: ExactBounds, label: number): ExactBounds {
  let lowest = Infinity;
  for (let j = 0; j < r.lower.length; j++) if (j !== label) lowest = Math.min(lowest, r.lower[j]);
  r.lowest = lowest;
  return r;
}

/**
 * LP margin lower bounds of the listed margins (one model; the solver keeps its basis between
 * margins, so each later solve is a warm start).
 */
export async function lpMarginBounds(net: BoundedNetwork, x: ArrayLike<number>, label: number, o: ExactBoundOptions): Promise<ExactBounds> {
  const h = await loadHighs();
  const t0 = performance.now();
  const p = marginProblem(net, x, label, o, false);
  const r = emptyBounds(p);
  solveLp(h, p, r, p.margins, o);
  r.seconds = (performance.now() - t0) / 1000;
  return finishBounds(r, label);
}

/** Solves the LP of each margin in `which` into r (lower, status, points found). */
export function solveLp(h: Highs, p: MarginProblem, r: ExactBounds, which: number[], o: ExactBoundOptions): void {
  const m = createHighsModel(h, p.program, true);
  try {
    // The first margin by interior point + crossover (on a 784-256-256-10 MLP about 3× faster
    // than simplex from scratch; presolve made it slower still), the rest by dual simplex
    // warm-started from the previous basis (a second or less each there).
    m.options.set({ time_limit: o.timeLimit ?? 10, presolve: "off", solver: "ipm", run_crossover: "on" });
    const ms = h.constants.modelStatus;
    const cost = new Float64Array(p.program.numCols);
    let prev = -1;
    for (const j of which) {
      const col = p.marginCols[j];
      if (prev >= 0) {
        m.changeColCost(prev, 0);
        cost[prev] = 0;
      }
      m.changeColCost(col, 1);
      cost[col] = 1;
      prev = col;
      m.zeroAllClocks();
      let status: MarginStatus;
      let y: ArrayLike<number> = new Float64Array(p.program.numRows);
      try {
        const code = m.run().modelStatus;
        status = code === ms.optimal ? "optimal" : code === ms.timeLimit || code === ms.iterationLimit || code === ms.interrupted ? "limit" : "failed";
        const sol = m.getSolution();
        if (Number(m.info.get("dual_solution_status")) !== 0) y = sol.rowDual;
        if (Number(m.info.get("primal_solution_status")) === h.constants.solutionStatus.feasible) notePoint(p, r, sol.colValue);
      } catch {
        status = "failed";
      }
      // Weak duality holds for any y: a failed or cut-short solve only weakens the bound, and
      // y = 0 (the margin variable's own box) bounds how weak it gets.
      const zero = new Float64Array(p.program.numRows);
      r.lower[j] = Math.max(weakDualBound(p.program, cost, y), weakDualBound(p.program, cost, zero)) - p.allowance[j];
      r.status[j] = status;
      if (o.stopOnViolation && r.counterexample) break;
      if (status === "optimal") m.options.set({ solver: "simplex" });
    }
  } finally {
    m.dispose();
  }
}
