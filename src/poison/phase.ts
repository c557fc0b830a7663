// The robust-PCA phase transition (Candès, Li, Ma & Wright 2011, Fig. 1): on n×n problems
// with rank r = ρ_r·n and a fraction ρ_s of corrupted entries, the share of seeded trials
// in which a method recovers L (‖L − L*‖_F/‖L*‖_F ≤ the success threshold), over a grid of
// (ρ_r, ρ_s). AltProj's divergence errors count as failures, with the error kept.
import type { TopLevelSpec } from "vega-lite";
import { AltProjDivergence, altproj } from "./altproj.js";
import { recoveryStats, type RpcaResult } from "./metrics.js";
import { pcp } from "./pcp.js";
import { syntheticRpca } from "./synthetic.js";
import type { Precision } from "./wasm.js";

export type PhaseMethod = "pcp" | "altproj";

export interface PhaseOptions {
  size: number;
  rankFractions: number[];
  sparsities: number[];
  methods: PhaseMethod[];
  trials: number;
  /** Success when ‖L − L*‖/‖L*‖ ≤ this (default 1e-3, as in Candès et al.). */
  success?: number;
  seed?: number;
  precision?: Precision;
  /** PCP in accurate mode (slow μ growth, capped μ: reaches the PCP optimum; FACTS.md). */
  accurate?: boolean;
  onCell?: (cell: PhaseCell) => void;
}

export interface PhaseCell {
  method: PhaseMethod;
  rankFraction: number;
  rank: number;
  sparsity: number;
  trials: number;
  /** Fraction of trials that recovered L. */
  successRate: number;
  /** Median relative error of L (Infinity when AltProj diverged). */
  medianError: number;
  /** Mean support F1 of S over trials that returned. */
  meanSupportF1: number;
  diverged: number;
  seconds: number;
}

export function phaseGrid(o: PhaseOptions): PhaseCell[] {
  const n = o.size;
  const success = o.success ?? 1e-3;
  const seed = o.seed ?? 1;
  if (!(Number.isInteger(n) && n >= 4)) throw new Error(`phase: size must be an integer ≥ 4, got ${n}`);
  if (!(Number.isInteger(o.trials) && o.trials >= 1)) throw new Error(`phase: trials must be an integer ≥ 1, got ${o.trials}`);
  for (const f of o.rankFractions) if (!(f > 0 && f < 1 && Math.round(f * n) >= 1)) throw new Error(`phase: rank fraction ${f} gives no rank in [1, ${n - 1}]`);
  for (const f of o.sparsities) if (!(f >= 0 && f < 1)) throw new Error(`phase: sparsity ${f} is not in [0, 1)`);
  const cells: PhaseCell[] = [];
  for (const method of o.methods) {
    for (const rankFraction of o.rankFractions) {
      const rank = Math.round(rankFraction * n);
      for (const sparsity of o.sparsities) {
        const t0 = performance.now();
        const errors: number[] = [];
        let ok = 0, diverged = 0, f1sum = 0, returned = 0;
        for (let t = 0; t < o.trials; t++) {
          // One problem per (cell, trial), the same for both methods.
          const p = syntheticRpca(n, n, rank, sparsity, seed + 1000 * t + 7 * rank + Math.round(1e4 * sparsity));
          let res: RpcaResult;
          try {
            res = method === "pcp" ? pcp(p.m, { precision: o.precision, seed, accurate: o.accurate }) : altproj(p.m, { rank, precision: o.precision, seed });
          } catch (e) {
            if (!(e instanceof AltProjDivergence)) throw e;
            diverged++;
            errors.push(Infinity);
            continue;
          }
          const rec = recoveryStats(p.m, res, p.lowRank, p.sparse);
          errors.push(rec.lowRankError);
          f1sum += rec.supportF1;
          returned++;
          if (rec.lowRankError <= success) ok++;
        }
        errors.sort((a, b) => a - b);
        const cell: PhaseCell = {
          method, rankFraction, rank, sparsity, trials: o.trials, successRate: ok / o.trials,
          medianError: errors[Math.floor((errors.length - 1) / 2)], meanSupportF1: returned ? f1sum / returned : 0, diverged,
          seconds: (performance.now() - t0) / 1000,
        };
        cells.push(cell);
        o.onCell?.(cell);
      }
    }
  }
  return cells;
}

/** A heat map of success rate over (sparsity, rank fraction), one panel per method. */
export function phaseHeatmap(cells: PhaseCell[], title: string): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    data: { values: cells.map((c) => ({ ...c, medianError: Number.isFinite(c.medianError) ? c.medianError : null })) },
    facet: { column: { field: "method", type: "nominal", title: null } },
    spec: {
      width: 260,
      height: 260,
      mark: { type: "rect" },
      encoding: {
        x: { field: "sparsity", type: "ordinal", title: "fraction of corrupted entries ρ_s", axis: { format: ".2f" } },
        y: { field: "rankFraction", type: "ordinal", title: "rank / n", sort: "descending", axis: { format: ".2f" } },
        color: { field: "successRate", type: "quantitative", title: "recovered", scale: { domain: [0, 1], scheme: "greys", reverse: true } },
        tooltip: [{ field: "rank" }, { field: "sparsity" }, { field: "successRate" }, { field: "medianError" }],
      },
    },
  } as TopLevelSpec;
}
