// Exact margin bounds by mixed-integer programming: the LP of lp.ts plus one binary per
// unstable ReLU, with big-M rows from the intermediate bounds (CROWN's, LP-tightened by
// default: tighten.ts), so the optimum is the true minimum of each margin over the ball
// (Tjeng et al. 2019). HiGHS branch and bound runs with gap 0 and a time limit per margin.
// The certificate is its proven dual bound (mip_dual_bound; never the incumbent's objective),
// less an allowance for the solver's tolerances; the LP bound (sound by weak duality) is kept
// when it is higher. A negative margin at the incumbent's input point (checked here in
// float64, by the caller on the float32 network) is a counterexample.
import { createHighsModel, loadHighs, type Highs, type LinearProgram } from "./highs.js";
import {
  emptyBounds, finishBounds, marginProblem, marginsOf, notePoint, solveLp,
  type BoundedNetwork, type ExactBoundOptions, type ExactBounds, type MarginProblem,
} from "./lp.js";
import type { TightenMode } from "./tighten.js";

/**
 * The MILP's default intermediate bounds. On a 784-64-64-10 MLP (FGSM-trained, ε = 0.05, 10
 * samples CROWN left open, 100 nodes per margin) LP tightening decided 17 of 20 open margins
 * against 14, in about the same time (tightening ~1–3 s a sample, won back in branch and bound).
 */
export const MILP_TIGHTEN_DEFAULT: TightenMode = "lp";

export interface MilpOptions extends ExactBoundOptions {
  /**
   * true (default): stop each margin as soon as its sign is settled (proven bound above the
   * allowances, or a point with a negative margin) — all a verdict needs. false: solve every
   * margin to optimality (gap 0) within the time limit.
   */
  decide?: boolean;
  /**
   * The LP bounds of this sample (lpMarginBounds with the same ε, clip and rounding) when the
   * caller has them already; otherwise the LP is solved first.
   */
  lp?: ExactBounds;
  /**
   * Branch-and-bound nodes per margin. Unlike the time limit this is a deterministic budget:
   * with it (and a time limit that is not reached) verdicts do not depend on machine load.
   */
  nodeLimit?: number;
}

/**
 * What the proven bound may overstate by: a node LP accepted with reduced costs off by up to
 * the feasibility tolerance δ moves its objective by at most δ·(column width) per column.
 * This is the trust placed in HiGHS's tolerances (the LP bound needs none).
 */
function solverTolerance(p: LinearProgram, delta: number): number {
  let w = 0;
  const { colLower, colUpper, numCols } = p;
  for (let c = 0; c < numCols; c++) w += colUpper[c] - colLower[c];
  return delta * w;
}

/** A HiGHS MILP model of p with the options of every solve here, and its tolerance allowance. */
export function milpModel(h: Highs, p: LinearProgram, o: { timeLimit: number; nodeLimit?: number }): { m: ReturnType<typeof createHighsModel>; tol: number } {
  const m = createHighsModel(h, p);
  // Presolve is off: on a 784-input MLP it ran for minutes without looking at the time
  // limit. Feasibility jump costs ~0.1 s of setup per solve in this WASM build, more than
  // the whole search on small nets.
  m.options.set({
    time_limit: o.timeLimit, mip_rel_gap: 0, mip_abs_gap: 0, presolve: "off", mip_heuristic_run_feasibility_jump: false,
    ...(o.nodeLimit !== undefined ? { mip_max_nodes: o.nodeLimit } : {}),
  });
  const delta = Math.max(Number(m.options.get("dual_feasibility_tolerance")), Number(m.options.get("mip_feasibility_tolerance")));
  return { m, tol: solverTolerance(p, delta) };
}

export interface MilpRun {
  status: "optimal" | "limit" | "failed";
  /** HiGHS's proven dual bound (not yet less the tolerance); −∞ when there is none. */
  dual: number;
  /** The incumbent, when there is one (its input part is a point to re-check). */
  colValue?: ArrayLike<number>;
}

/**
 * One branch-and-bound run of m (costs set by the caller). With stop: interrupted as soon as
 * the dual bound exceeds certifyAbove or the incumbent falls below falsifyBelow.
 */
export function runMilp(h: Highs, m: ReturnType<typeof createHighsModel>, timeLimit: number, stop?: { certifyAbove: number; falsifyBelow: number }): MilpRun {
  const ms = h.constants.modelStatus;
  m.zeroAllClocks();
  // HiGHS checks its time limit only now and then; the callback enforces it too.
  const deadline = performance.now() + 1000 * timeLimit;
  const callbacks = {
    [h.constants.callbackType.mipInterrupt](e: { data: { mip_dual_bound?: number; mip_primal_bound?: number }; interrupt(): void }) {
      const settled = stop !== undefined && ((e.data.mip_dual_bound ?? -Infinity) > stop.certifyAbove || (e.data.mip_primal_bound ?? Infinity) < stop.falsifyBelow);
      if (settled || performance.now() > deadline) e.interrupt();
      return undefined;
    },
  };
  let code: number;
  try {
    code = m.run(callbacks).modelStatus;
  } catch {
    return { status: "failed", dual: -Infinity };
  }
  const limited = code === ms.timeLimit || code === ms.iterationLimit || code === ms.interrupted || code === ms.solutionLimit;
  // Infeasible or unbounded cannot be (the programs here are never empty): a numerical failure.
  if (code !== ms.optimal && !limited) return { status: "failed", dual: -Infinity };
  const dual = Number(m.info.get("mip_dual_bound"));
  const feasible = Number(m.info.get("primal_solution_status")) === h.constants.solutionStatus.feasible;
  return { status: code === ms.optimal ? "optimal" : "limit", dual: Number.isFinite(dual) ? dual : -Infinity, colValue: feasible ? m.getSolution().colValue : undefined };
}

/**
 * Exact margin bounds of one sample. Steps, each on the margins the previous left open (with
 * decide): the LP on CROWN's boxes; with tighten "lp" (the default, MILP_TIGHTEN_DEFAULT) the
 * boxes LP-tightened (tighten.ts) and the LP again on them; then the MILP on the final boxes.
 */
export async function milpMarginBounds(net: BoundedNetwork, x: ArrayLike<number>, label: number, o: MilpOptions): Promise<ExactBounds> {
  const h = await loadHighs();
  const t0 = performance.now();
  const decide = o.decide !== false;
  const timeLimit = o.timeLimit ?? 10;
  const tighten = o.tighten ?? MILP_TIGHTEN_DEFAULT;
  const { classes, margins } = marginsOf(net, x, label, o);
  // The LP first: sound bounds that often settle a margin already, and a first candidate point.
  let r: ExactBounds;
  let lp: MarginProblem | undefined;
  if (o.lp) {
    if (o.lp.lower.length !== classes) throw new Error(`the LP bounds given cover ${o.lp.lower.length} classes; the network has ${classes}`);
    r = { ...o.lp, lower: Float64Array.from(o.lp.lower), upper: Float64Array.from(o.lp.upper), status: [...o.lp.status] };
  } else {
    lp = marginProblem(net, x, label, { ...o, tighten: "none" }, false);
    r = emptyBounds(lp);
    solveLp(h, lp, r, margins, o);
  }
  const settled = (j: number) => r.lower[j] > 0 || r.upper[j] < 0;
  const stopped = () => o.stopOnViolation === true && r.counterexample !== undefined;
  const open = () => margins.filter((j) => !(decide && settled(j)));
  if (!stopped() && tighten === "lp" && open().length > 0) {
    lp = marginProblem(net, x, label, { ...o, tighten: "lp" }, false, { h, deadline: performance.now() + 1000 * timeLimit });
    solveLp(h, lp, r, open(), o);
  }
  if (!stopped() && decide) for (const j of margins) if (settled(j)) r.status[j] = "decided";
  if (!stopped() && open().length > 0) {
    const p = marginProblem(net, x, label, o, true, lp ? { from: lp } : {});
    r.unstable = p.unstable;
    // Likeliest violations first, so an early stop comes early.
    const todo = open().sort((a, b) => r.lower[a] - r.lower[b]);
    const { m, tol } = milpModel(h, p.program, { timeLimit, nodeLimit: o.nodeLimit });
    try {
      let prev = -1;
      for (const j of todo) {
        const col = p.marginCols[j];
        if (prev >= 0) m.changeColCost(prev, 0);
        m.changeColCost(col, 1);
        prev = col;
        const run = runMilp(h, m, timeLimit, decide ? { certifyAbove: tol + p.allowance[j], falsifyBelow: -p.allowance[j] } : undefined);
        if (run.status === "failed") {
          r.status[j] = "failed";
          continue;
        }
        r.lower[j] = Math.max(r.lower[j], run.dual - tol - p.allowance[j]);
        if (run.colValue) notePoint(p, r, run.colValue);
        r.status[j] = run.status === "optimal" ? "optimal" : settled(j) ? "decided" : "limit";
        if (stopped()) break;
      }
    } finally {
      m.dispose();
    }
  }
  r.seconds = (performance.now() - t0) / 1000;
  return finishBounds(r, label);
}
