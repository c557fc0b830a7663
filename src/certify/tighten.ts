// LP-tightened intermediate bounds. CROWN's box of a hidden neuron comes from one linear
// relaxation per layer; the LP over the triangle relaxation of all earlier layers (with their
// already-tightened boxes) is at least as tight, and every neuron it proves stable is a binary
// less in the MILP, every narrower box a smaller big-M. Layer by layer, each unstable neuron's
// pre-activation is maximised and minimised over that LP — one HiGHS model per layer, only the
// objective changes between solves. Each bound comes from weak duality (highs.ts runLp), so it
// holds whatever the solver reports; CROWN's box is a column bound of the program, so the
// result is never looser than CROWN.
import { createHighsModel, runLp, type Highs } from "./highs.js";
import type { Tightener } from "./relu-program.js";

export type TightenMode = "lp" | "none";
export const TIGHTEN_MODES: readonly TightenMode[] = ["lp", "none"];

export interface TightenStats {
  /** LPs solved, unstable neurons looked at, and those the LP proved stable. */
  lps: number;
  neurons: number;
  stabilised: number;
  /** The deadline came first: the remaining neurons kept their CROWN box. */
  cutShort: boolean;
}

export function newTightenStats(): TightenStats {
  return { lps: 0, neurons: 0, stabilised: 0, cutShort: false };
}

/**
 * A Tightener (relu-program.ts) that re-bounds each unstable neuron by two LPs. Past
 * `deadline` (performance.now() milliseconds) the rest keep their box: sound, only looser.
 */
export function lpTightener(h: Highs, deadline: number, stats: TightenStats = newTightenStats()): Tightener {
  return (b, cols, [l, u]) => {
    const todo: number[] = [];
    for (let k = 0; k < cols.length; k++) if (cols[k] >= 0 && l[k] < 0 && u[k] > 0) todo.push(k);
    if (todo.length === 0) return;
    const program = b.build();
    const m = createHighsModel(h, program, true);
    const cost = new Float64Array(program.numCols);
    try {
      // Dual simplex throughout, warm-started from the previous basis when only the cost
      // changes. (Primal simplex, the textbook choice for that, stalled for minutes on one
      // LP of a 784-64-64-10 MLP; interior point first was no faster on these sizes.)
      m.options.set({ presolve: "off", solver: "simplex" });
      /** A lower bound of min sign·v[col] over the LP. */
      const solve = (col: number, sign: 1 | -1): number => {
        m.options.set({ time_limit: Math.max(1e-3, (deadline - performance.now()) / 1000) });
        m.changeColCost(col, sign);
        cost[col] = sign;
        const r = runLp(h, m, program, cost);
        m.changeColCost(col, 0);
        cost[col] = 0;
        stats.lps++;
        return r.bound;
      };
      for (const k of todo) {
        if (performance.now() > deadline) {
          stats.cutShort = true;
          break;
        }
        stats.neurons++;
        const col = cols[k];
        // The upper bound first: a neuron that cannot be positive needs no lower bound.
        u[k] = Math.min(u[k], -solve(col, -1));
        if (u[k] > 0) l[k] = Math.max(l[k], solve(col, 1));
        // Both bounds are sound, so a crossing is float64 noise around a constant neuron:
        // the box between them still holds it.
        if (l[k] > u[k]) [l[k], u[k]] = [u[k], l[k]];
        if (!(l[k] < 0 && u[k] > 0)) stats.stabilised++;
        b.setColBounds(col, l[k], u[k]);
      }
    } finally {
      m.dispose();
    }
  };
}
