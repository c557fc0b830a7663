// The LP relaxation of a ReLU network around one sample (the "triangle" relaxation of
// relu-program.ts; the primal of the Wong–Kolter dual) over the ε-ball, with the label's
// margins folded into the last layer. Every neuron is a variable bounded by the intermediate
// box from propagate (CROWN; optionally LP-tightened, tighten.ts). With the same intermediate
// bounds it is at least as tight as CROWN. Each margin row z_y − z_j is minimised by HiGHS; the
// reported bound comes from the row duals through weak duality (highs.ts), so it is sound
// whatever the solver's status or tolerances. The MILP (milp.ts) adds one binary per
// unstable ReLU to the same program.
import type { Model } from "../nn/model.js";
import { foldSpec, inputBox, propagate, roundingAllowance } from "./bounds.js";
import { createHighsModel, loadHighs, ProgramBuilder, runLp, type Highs, type LinearProgram } from "./highs.js";
import { networkOps, type Op } from "./network.js";
import { addNetwork, type Boxes } from "./relu-program.js";
import { lpTightener, TIGHTEN_MODES, type TightenMode, type TightenStats } from "./tighten.js";

export { affineRows } from "./relu-program.js";

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
  /**
   * "lp": re-bound each unstable hidden neuron by LPs over the earlier layers first (tighten.ts;
   * within the time limit). Default "none" here; milp.ts picks its own default.
   */
  tighten?: TightenMode;
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
  /** MILP: the binaries of its program (unstable ReLUs after any tightening). */
  unstable?: number;
  /** Wall time of the solves, seconds. */
  seconds: number;
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
  /** The intermediate boxes the program was built from (CROWN's, or LP-tightened). */
  boxes: Boxes;
}

/** How to build a margin problem beyond the options. */
export interface ProblemSetup {
  /** The solver: needed for tighten "lp". */
  h?: Highs;
  /** Reuse this problem's network, boxes, ball and allowances (the same sample): no propagation or tightening. */
  from?: MarginProblem;
  /** Tightening stops at this performance.now() (default: now + the time limit). */
  deadline?: number;
  tightenStats?: TightenStats;
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
  if (o.tighten !== undefined && !TIGHTEN_MODES.includes(o.tighten)) throw new Error(`tighten must be one of ${TIGHTEN_MODES.join(", ")}, got ${o.tighten}`);
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

/** The class count and the margins to solve, after checking the inputs (one-line errors). */
export function marginsOf(net: BoundedNetwork, x: ArrayLike<number>, label: number, o: ExactBoundOptions): { classes: number; margins: number[] } {
  const { classes, margins } = validate(net, x, label, o);
  return { classes, margins };
}

/**
 * Builds the margin problem of one sample: the network (relu-program.ts; one binary per
 * unstable ReLU with integer) over the input box, a column per margin asked for.
 */
export function marginProblem(net: BoundedNetwork, x: ArrayLike<number>, label: number, o: ExactBoundOptions, integer: boolean, setup: ProblemSetup = {}): MarginProblem {
  const { ops, classes, margins } = validate(net, x, label, o);
  const b = new ProgramBuilder();
  const from = setup.from;
  if (from) {
    if (from.label !== label) throw new Error(`internal error: reusing the problem of label ${from.label} for label ${label}`);
    const cols = addNetwork(b, from.folded, from.boxes, margins, integer);
    return { ...from, margins, program: b.build(), inputCols: cols.inputCols, marginCols: cols.outCols, unstable: cols.unstable, boxes: cols.boxes };
  }
  const clip = o.clip === undefined ? { lo: 0, hi: 1 } : o.clip;
  const [lo0, hi0] = inputBox(x, o.eps, clip);
  const folded = foldSpec(ops, classes, label);
  const { boxes } = propagate(folded, lo0, hi0, { method: "crown" });
  // From CROWN's boxes even when tightening follows: sound either way, and independent of it.
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
  let tightener;
  if (o.tighten === "lp") {
    if (!setup.h) throw new Error("internal error: LP tightening needs the solver (ProblemSetup.h)");
    tightener = lpTightener(setup.h, setup.deadline ?? performance.now() + 1000 * (o.timeLimit ?? 10), setup.tightenStats);
  }
  const cols = addNetwork(b, folded, boxes, margins, integer, tightener);
  return {
    classes, label, margins, folded, lo0, hi0, ballLo, ballHi, allowance, program: b.build(),
    inputCols: cols.inputCols, marginCols: cols.outCols, unstable: cols.unstable, boxes: cols.boxes,
  };
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
  const p = marginProblem(net, x, label, o, false, { h });
  const r = emptyBounds(p);
  solveLp(h, p, r, p.margins, o);
  r.seconds = (performance.now() - t0) / 1000;
  return finishBounds(r, label);
}

/**
 * Solves the LP of each margin in `which` into r: lower (raised, never lowered: r may hold an
 * earlier bound of the same margin), status, points found.
 */
export function solveLp(h: Highs, p: MarginProblem, r: ExactBounds, which: number[], o: ExactBoundOptions): void {
  const m = createHighsModel(h, p.program, true);
  try {
    // The first margin by interior point + crossover (on a 784-256-256-10 MLP about 3× faster
    // than simplex from scratch; presolve made it slower still), the rest by dual simplex
    // warm-started from the previous basis (a second or less each there).
    m.options.set({ time_limit: o.timeLimit ?? 10, presolve: "off", solver: "ipm", run_crossover: "on" });
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
      const run = runLp(h, m, p.program, cost);
      if (run.colValue) notePoint(p, r, run.colValue);
      r.lower[j] = Math.max(r.lower[j], run.bound - p.allowance[j]);
      r.status[j] = run.status;
      if (o.stopOnViolation && r.counterexample) break;
      if (run.status === "optimal") m.options.set({ solver: "simplex" });
    }
  } finally {
    m.dispose();
  }
}
