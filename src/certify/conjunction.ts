// A conjunction of output rows over an input box as one LP/MILP: the question a VNNLIB
// disjunct asks ("∃ x in the box with C·f(x) ≤ d?"). Bounding each row alone asks whether some
// row is > 0 everywhere; the program here asks the tighter question directly:
//     t* = min over the box of max_r (C_r·y − d_r),   the disjunct is infeasible iff t* > 0,
// as min t subject to t ≥ C_r·y − d_r − a_r for every row, with the network of relu-program.ts
// (C folded into its last layer) and a_r the float32 rounding allowance of row r. Since the
// float32 outputs ỹ satisfy C_r·ỹ − d_r ≥ C_r·y − d_r − a_r, a lower bound of this program's
// minimum bounds max_r (C_r·ỹ − d_r) at every point of the box: > 0 means no float32 point
// satisfies every row. The LP bound comes from weak duality (sound whatever the solver says);
// the MILP's from its proven dual bound less the tolerance allowance (milp.ts). A solver's
// point is only a candidate: the caller re-checks it on the float32 network.
import { propagate, roundingAllowance } from "./bounds.js";
import { createHighsModel, ProgramBuilder, runLp, type Highs, type LinearProgram } from "./highs.js";
import { MILP_TIGHTEN_DEFAULT, milpModel, runMilp } from "./milp.js";
import { DenseOp, type Op } from "./network.js";
import { addNetwork, type Boxes } from "./relu-program.js";
import { lpTightener, type TightenMode } from "./tighten.js";

/** Rows C·y ≤ d: C is rows × outputs, row-major. */
export interface RowSet {
  C: Float64Array;
  d: Float64Array;
  rows: number;
}

/** The network with the rows C·y − d folded into its last layer (or appended to it). */
export function foldRows(ops: Op[], set: RowSet, outputs: number): Op[] {
  const { C, d, rows } = set;
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

/**
 * Per row, a_r with C_r·ỹ − d_r ≥ C_r·y − d_r − a_r for the float32 outputs ỹ of the network
 * `ops` over the box (boxes: the propagation of foldRows(ops, …), whose first ops.length boxes
 * are also the inputs of ops). |ỹ_j − y_j| ≤ e_j (bounds.ts roundingAllowance) gives
 * Σ_j |C_rj|·e_j; the constants C, d themselves were rounded to float64 when parsed, and
 * 2^-50 of their magnitude against the largest |y| covers that.
 */
export function rowAllowance(ops: Op[], boxes: Boxes, set: RowSet, outputs: number): Float64Array {
  const e = roundingAllowance(ops, boxes.slice(0, ops.length));
  const lastOp = ops[ops.length - 1];
  const [ilo, ihi] = boxes[ops.length - 1];
  const [ylo, yhi] = lastOp.kind === "affine" ? lastOp.interval(ilo, ihi) : [ilo.map((v) => Math.max(0, v)), ihi.map((v) => Math.max(0, v))];
  const a = new Float64Array(set.rows);
  for (let r = 0; r < set.rows; r++) {
    let slack = Math.abs(set.d[r]) * 2 ** -50;
    for (let j = 0; j < outputs; j++) {
      const c = Math.abs(set.C[r * outputs + j]);
      slack += c * (e[j] + Math.max(Math.abs(ylo[j]), Math.abs(yhi[j])) * 2 ** -50);
    }
    a[r] = slack;
  }
  return a;
}

export interface ConjunctionProblem {
  folded: Op[];
  /** The intermediate boxes the program was built from (CROWN's, or LP-tightened). */
  boxes: Boxes;
  /** Per row, the float32 allowance a_r (0 with rounding "none"). */
  allowance: Float64Array;
  program: LinearProgram;
  inputCols: Int32Array;
  /** The column of t (the objective). */
  tCol: number;
  unstable: number;
}

export interface ConjunctionOptions {
  /** "none": the exact-arithmetic network only (default "float32"). */
  rounding?: "float32" | "none";
  /** Intermediate bounds: "none" (CROWN), "lp" (tighten.ts). Default: none for LP, MILP_TIGHTEN_DEFAULT for MILP. */
  tighten?: TightenMode;
  /** Seconds per solve (default 10); the tightening gets as long again. */
  timeLimit?: number;
  /** MILP branch-and-bound nodes (deterministic budget). */
  nodeLimit?: number;
  /** MILP: stop once the sign of t* is settled (default true); false: solve to optimality. */
  decide?: boolean;
}

/** The program of the rows over the box [lo, hi] of the network ops (outputs wide). */
export function conjunctionProblem(
  ops: Op[], outputs: number, lo: Float64Array, hi: Float64Array, set: RowSet, o: ConjunctionOptions, integer: boolean,
  setup: { h?: Highs; from?: ConjunctionProblem; deadline?: number } = {},
): ConjunctionProblem {
  if (set.rows < 1) throw new Error("internal error: a conjunction needs at least one row");
  let folded: Op[];
  let boxes: Boxes;
  let allowance: Float64Array;
  if (setup.from) ({ folded, boxes, allowance } = setup.from);
  else {
    folded = foldRows(ops, set, outputs);
    boxes = propagate(folded, lo, hi, { method: "crown" }).boxes;
    allowance = (o.rounding ?? "float32") === "float32" ? rowAllowance(ops, boxes, set, outputs) : new Float64Array(set.rows);
  }
  let tightener;
  if (!setup.from && o.tighten === "lp") {
    if (!setup.h) throw new Error("internal error: LP tightening needs the solver");
    tightener = lpTightener(setup.h, setup.deadline ?? performance.now() + 1000 * (o.timeLimit ?? 10));
  }
  const b = new ProgramBuilder();
  const all = Array.from({ length: set.rows }, (_, r) => r);
  const net = addNetwork(b, folded, boxes, all, integer, tightener);
  // t's box: at the optimum t = max_r (g_r − a_r), which lies within these (CROWN's output box).
  const [gl, gh] = net.boxes[folded.length];
  let tlo = -Infinity;
  let thi = -Infinity;
  for (const r of all) {
    tlo = Math.max(tlo, gl[r] - allowance[r]);
    thi = Math.max(thi, gh[r] - allowance[r]);
  }
  const tCol = b.addCol(tlo, thi);
  // t − g_r ≥ −a_r
  for (const r of all) b.addRow([tCol, net.outCols[r]], [1, -1], -allowance[r], Infinity);
  return { folded, boxes: net.boxes, allowance, program: b.build(), inputCols: net.inputCols, tCol, unstable: net.unstable };
}

export type ConjunctionStatus = "optimal" | "decided" | "limit" | "failed";

export interface ConjunctionResult {
  /** A lower bound of min over the box of max_r (C_r·ỹ − d_r), ỹ the float32 outputs. */
  lower: number;
  status: ConjunctionStatus;
  /** A float32 input of the float32 box where `holds` said every row holds. */
  counterexample?: Float32Array;
  /** Binaries of the MILP (unstable ReLUs after any tightening); of the LP's program for lp. */
  unstable: number;
  seconds: number;
}

/** Where a solver's point is checked: the float32 box and the float32 network's verdict there. */
export interface PointCheck {
  lo: Float32Array;
  hi: Float32Array;
  /** Whether the float32 network satisfies every row at x (a float32 point of [lo, hi]). */
  holds(x: Float32Array): boolean;
}

/** The solver's input values rounded into the float32 box; a counterexample if they check. */
function checkPoint(p: ConjunctionProblem, colValue: ArrayLike<number>, check: PointCheck): Float32Array | undefined {
  const n = p.inputCols.length;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (!(check.lo[i] <= check.hi[i])) return undefined; // no float32 point in the box
    const v = Math.fround(colValue[p.inputCols[i]]);
    x[i] = Math.min(check.hi[i], Math.max(check.lo[i], Number.isFinite(v) ? v : check.lo[i]));
  }
  return check.holds(x) ? x : undefined;
}

/** The LP bound of t* (cost on t; weak duality). */
function lpStep(h: Highs, p: ConjunctionProblem, o: ConjunctionOptions): { bound: number; status: ConjunctionStatus; colValue?: ArrayLike<number> } {
  const m = createHighsModel(h, p.program, true);
  try {
    m.options.set({ time_limit: o.timeLimit ?? 10, presolve: "off", solver: "ipm", run_crossover: "on" });
    m.changeColCost(p.tCol, 1);
    const cost = new Float64Array(p.program.numCols);
    cost[p.tCol] = 1;
    return runLp(h, m, p.program, cost);
  } finally {
    m.dispose();
  }
}

/** The LP relaxation's bound of t* (tighten "lp": over LP-tightened boxes). */
export function lpConjunction(h: Highs, ops: Op[], outputs: number, lo: Float64Array, hi: Float64Array, set: RowSet, o: ConjunctionOptions, check: PointCheck): ConjunctionResult {
  const t0 = performance.now();
  const p = conjunctionProblem(ops, outputs, lo, hi, set, o, false, { h });
  const run = lpStep(h, p, o);
  const counterexample = run.colValue ? checkPoint(p, run.colValue, check) : undefined;
  return { lower: run.bound, status: run.status, counterexample, unstable: p.unstable, seconds: (performance.now() - t0) / 1000 };
}

/**
 * t* by MILP, each step only while the sign is open (with decide): the LP on CROWN's boxes;
 * with tighten "lp" (default) the LP on tightened boxes; then branch and bound. Every solver
 * point on the way is checked on the float32 network.
 */
export function milpConjunction(h: Highs, ops: Op[], outputs: number, lo: Float64Array, hi: Float64Array, set: RowSet, o: ConjunctionOptions, check: PointCheck): ConjunctionResult {
  const t0 = performance.now();
  const decide = o.decide !== false;
  const timeLimit = o.timeLimit ?? 10;
  let lower = -Infinity;
  let status: ConjunctionStatus;
  let counterexample: Float32Array | undefined;
  // "optimal" only for a finished branch and bound; a sign settled before that is "decided".
  const done = (p: ConjunctionProblem, s: ConjunctionStatus): ConjunctionResult => {
    const settled = lower > 0 || counterexample !== undefined;
    return { lower, status: s === "limit" && settled ? "decided" : s, counterexample, unstable: p.unstable, seconds: (performance.now() - t0) / 1000 };
  };
  const note = (p: ConjunctionProblem, colValue: ArrayLike<number> | undefined) => {
    if (colValue && !counterexample) counterexample = checkPoint(p, colValue, check);
  };
  let p = conjunctionProblem(ops, outputs, lo, hi, set, { ...o, tighten: "none" }, false);
  let run = lpStep(h, p, o);
  lower = run.bound;
  note(p, run.colValue);
  if (decide && (lower > 0 || counterexample)) return done(p, "decided");
  if ((o.tighten ?? MILP_TIGHTEN_DEFAULT) === "lp") {
    p = conjunctionProblem(ops, outputs, lo, hi, set, { ...o, tighten: "lp" }, false, { h, deadline: performance.now() + 1000 * timeLimit });
    run = lpStep(h, p, o);
    lower = Math.max(lower, run.bound);
    note(p, run.colValue);
    if (decide && (lower > 0 || counterexample)) return done(p, "decided");
  }
  const q = conjunctionProblem(ops, outputs, lo, hi, set, o, true, { from: p });
  const { m, tol } = milpModel(h, q.program, { timeLimit, nodeLimit: o.nodeLimit });
  try {
    m.changeColCost(q.tCol, 1);
    // Stop below −(2·max a_r + tol): there every row's float32 value is < 0 unless the
    // solver's point is off by more than its tolerance; the float32 check decides anyway.
    let amax = 0;
    for (const a of q.allowance) amax = Math.max(amax, a);
    const mr = runMilp(h, m, timeLimit, decide ? { certifyAbove: tol, falsifyBelow: -(2 * amax + tol) } : undefined);
    lower = Math.max(lower, mr.dual - tol);
    note(q, mr.colValue);
    status = mr.status;
  } finally {
    m.dispose();
  }
  return done(q, status);
}
