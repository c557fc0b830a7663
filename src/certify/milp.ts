// Exact margin bounds by mixed-integer programming: the LP of lp.ts plus one binary per
// unstable ReLU (big-M rows from the CROWN intermediate bounds), so the optimum is the true
// minimum of each margin over the ball (Tjeng et al. 2019). HiGHS branch and bound runs with
// gap 0 and a time limit per margin. The certificate is its proven dual bound (mip_dual_bound;
// never the incumbent's objective), less an allowance for the solver's tolerances; the LP
// bound (sound by weak duality) is kept when it is higher. A negative margin at the
// incumbent's input point (checked here in float64, by the caller on the float32 network) is a
// counterexample.
import { createHighsModel, loadHighs } from "./highs.js";
import {
  emptyBounds, finishBounds, marginProblem, notePoint, solveLp,
  type BoundedNetwork, type ExactBoundOptions, type ExactBounds, type MarginProblem,
} from "./lp.js";

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
function solverTolerance(p: MarginProblem, delta: number): number {
  let w = 0;
  const { colLower, colUpper, numCols } = p.program;
  for (let c = 0; c < numCols; c++) w += colUpper[c] - colLower[c];
  return delta * w;
}

export async function milpMarginBounds(net: BoundedNetwork, x: ArrayLike<number>, label: number, o: MilpOptions): Promise<ExactBounds> {
  const h = await loadHighs();
  const t0 = performance.now();
  const decide = o.decide !== false;
  const timeLimit = o.timeLimit ?? 10;
  const p = marginProblem(net, x, label, o, true);
  // The LP first: sound bounds that often settle a margin already, and a first candidate point.
  let r: ExactBounds;
  if (o.lp) {
    if (o.lp.lower.length !== p.classes) throw new Error(`the LP bounds given cover ${o.lp.lower.length} classes; the network has ${p.classes}`);
    r = { ...o.lp, lower: Float64Array.from(o.lp.lower), upper: Float64Array.from(o.lp.upper), status: [...o.lp.status] };
  } else {
    r = emptyBounds(p);
    const lp = marginProblem(net, x, label, o, false);
    solveLp(h, lp, r, lp.margins, o);
  }
  const ms = h.constants.modelStatus;
  if (!(o.stopOnViolation && r.counterexample)) {
    const settled = (j: number) => r.lower[j] > 0 || r.upper[j] < 0;
    if (decide) for (const j of p.margins) if (settled(j)) r.status[j] = "decided";
    // Likeliest violations first, so an early stop comes early.
    const todo = p.margins.filter((j) => !(decide && settled(j))).sort((a, b) => r.lower[a] - r.lower[b]);
    const m = createHighsModel(h, p.program);
    try {
      // Presolve is off: on a 784-input MLP it ran for minutes without looking at the time
      // limit. Feasibility jump costs ~0.1 s of setup per solve in this WASM build, more than
      // the whole search on small nets.
      m.options.set({
        time_limit: timeLimit, mip_rel_gap: 0, mip_abs_gap: 0, presolve: "off", mip_heuristic_run_feasibility_jump: false,
        ...(o.nodeLimit !== undefined ? { mip_max_nodes: o.nodeLimit } : {}),
      });
      const delta = Math.max(Number(m.options.get("dual_feasibility_tolerance")), Number(m.options.get("mip_feasibility_tolerance")));
      const tol = solverTolerance(p, delta);
      let prev = -1;
      for (const j of todo) {
        const col = p.marginCols[j];
        if (prev >= 0) m.changeColCost(prev, 0);
        m.changeColCost(col, 1);
        prev = col;
        m.zeroAllClocks();
        const certifyAbove = tol + p.allowance[j];
        const falsifyBelow = -p.allowance[j];
        // HiGHS checks its time limit only now and then; the callback enforces it too.
        const deadline = performance.now() + 1000 * timeLimit;
        const callbacks = {
          [h.constants.callbackType.mipInterrupt](e: { data: { mip_dual_bound?: number; mip_primal_bound?: number }; interrupt(): void }) {
            const settledNow = (e.data.mip_dual_bound ?? -Infinity) > certifyAbove || (e.data.mip_primal_bound ?? Infinity) < falsifyBelow;
            if ((decide && settledNow) || performance.now() > deadline) e.interrupt();
            return undefined;
          },
        };
        let code: number;
        try {
          code = m.run(callbacks).modelStatus;
        } catch {
          r.status[j] = "failed";
          continue;
        }
        const limited = code === ms.timeLimit || code === ms.iterationLimit || code === ms.interrupted || code === ms.solutionLimit;
        if (code === ms.optimal || limited) {
          const dual = Number(m.info.get("mip_dual_bound"));
          if (Number.isFinite(dual)) r.lower[j] = Math.max(r.lower[j], dual - tol - p.allowance[j]);
          if (Number(m.info.get("primal_solution_status")) === h.constants.solutionStatus.feasible) notePoint(p, r, m.getSolution().colValue);
          r.status[j] = code === ms.optimal ? "optimal" : settled(j) ? "decided" : "limit";
        } else {
          // Infeasible or unbounded cannot be (x itself is feasible): a numerical failure.
          r.status[j] = "failed";
        }
        if (o.stopOnViolation && r.counterexample) break;
      }
    } finally {
      m.dispose();
    }
  }
  r.seconds = (performance.now() - t0) / 1000;
  return finishBounds(r, label);
}
