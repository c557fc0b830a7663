// The robust-PCA filter. Per class: fit a low-rank model (centre + rank-r subspace) to the
// class's representations robustly, score each sample by its distance from that model (the
// norm of its residual row, the part the low-rank model cannot explain), and drop the
// high-residual group when it is a separate population (split.ts).
//
// Why not PCP/AltProj (pcp.ts, altproj.ts) on the class matrix: those model corruption as
// sparse *entries*, and a backdoor is neither sparse in rows nor in entries here. All poisons
// land in the target class (5 % of MNIST is ~32 % of class 7) and move ~30 of 100 units of the
// last hidden layer together, so they are a coherent low-rank group: PCP puts them into L.
// Measured (cnn-small layer 6, full MNIST): the row norms of PCP's S flagged 342 of 3000
// poisons at median + 3·MAD. The robust PCA used instead is the trimmed (least-trimmed-
// squares / concentration-step) kind, robust to up to half the rows being outliers: start from
// the coordinate-wise median, then repeat — keep the h = ⌊m/2⌋ + 1 rows of smallest residual,
// refit mean and subspace on them, recompute every residual — until the kept set stops
// changing. The poisons, a minority of the class, end up outside the fit and far from it
// (measured: poisons' residuals ≥ 16.4 at their 1st percentile; clean 7s' 99th percentile 15.9).
//
// The decision: residuals are heavy-tailed even on clean classes (a clean class's 99th
// percentile sits ~9 MADs above its median), so median + k·MAD either misses poisons or
// flags a slice of every class. The two-group split with Ashman's D gates the class instead;
// within a suspicious class the threshold is the split's cut, or the clean group's mean +
// CLEAN_Z·σ when that is lower (split.ts). median + 3·MAD is reported per class for comparison.
import { perClass, CLEAN_Z, mad, MAX_FLAGGED_SHARE, median, passes, rowsOf, twoGroupSplit, type DefenceResult } from "./split.js";
import { topDirections } from "./pca.js";

export interface RpcaFilterOptions {
  layer: number;
  /** Rank of the low-rank model (default 10). */
  rank?: number;
  /** Concentration steps at most (default 20). */
  maxSteps?: number;
  seed?: number;
}

/** Residual norms of the rows of x (m × n) from centre + span(dirs). */
function residuals(x: Float64Array, m: number, n: number, centre: Float64Array, dirs: Float64Array, k: number, out: Float64Array): void {
  const d = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) d[j] = x[i * n + j] - centre[j];
    let total = 0;
    for (let j = 0; j < n; j++) total += d[j] * d[j];
    let inSpan = 0;
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += d[j] * dirs[c * n + j];
      inSpan += s * s;
    }
    out[i] = Math.sqrt(Math.max(0, total - inSpan));
  }
}

/** Fits centre + rank-k subspace to x trimmed to its h best-fitting rows; residuals of all rows. */
export function trimmedRobustPca(x: Float64Array, m: number, n: number, rank: number, maxSteps: number, seed: number): { residual: Float64Array; steps: number } {
  const h = Math.floor(m / 2) + 1;
  const k = Math.min(rank, n, h - 1);
  // Start: distance from the coordinate-wise median (robust to any minority).
  const centre = new Float64Array(n);
  const col = new Float64Array(m);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < m; i++) col[i] = x[i * n + j];
    centre[j] = median(col);
  }
  const residual = new Float64Array(m);
  residuals(x, m, n, centre, new Float64Array(0), 0, residual);
  let kept = new Uint8Array(m);
  let steps = 0;
  for (; steps < maxSteps; steps++) {
    const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => residual[a] - residual[b] || a - b);
    const next = new Uint8Array(m);
    for (let r = 0; r < h; r++) next[order[r]] = 1;
    if (steps > 0 && next.every((v, i) => v === kept[i])) break;
    kept = next;
    const rows = order.slice(0, h).sort((a, b) => a - b);
    centre.fill(0);
    for (const i of rows) for (let j = 0; j < n; j++) centre[j] += x[i * n + j];
    for (let j = 0; j < n; j++) centre[j] /= h;
    const core = new Float64Array(h * n);
    rows.forEach((i, r) => {
      for (let j = 0; j < n; j++) core[r * n + j] = x[i * n + j] - centre[j];
    });
    if (k >= 1) {
      const { dirs, k: got } = topDirections(core, h, n, k, seed + steps);
      residuals(x, m, n, centre, dirs, got, residual);
    } else residuals(x, m, n, centre, new Float64Array(0), 0, residual);
  }
  for (let i = 0; i < m; i++) if (!Number.isFinite(residual[i])) throw new Error("robust PCA produced a non-finite residual");
  return { residual, steps };
}

export function rpcaFilter(acts: Float32Array, width: number, labels: Uint8Array, classes: number, o: RpcaFilterOptions): DefenceResult {
  const rank = o.rank ?? 10;
  if (!(Number.isInteger(rank) && rank >= 0)) throw new Error(`rank must be a non-negative integer, got ${rank}`);
  const maxSteps = o.maxSteps ?? 20;
  const seed = o.seed ?? 0;
  const { scores, flagged, reports } = perClass(acts, width, labels, classes, 4, { cut: null, madCut: null, steps: 0 }, (c, idx, report, { scores, flagged }) => {
    const m = idx.length;
    const x = rowsOf(acts, width, idx);
    const { residual, steps } = trimmedRobustPca(x, m, width, rank, maxSteps, seed + 101 * c);
    for (let k = 0; k < m; k++) scores[idx[k]] = residual[k];
    const split = twoGroupSplit(residual);
    const med = median(residual);
    report.steps = steps;
    report.madCut = med + 3 * mad(residual, med);
    report.separation = split.separation;
    report.share = split.highCount / m;
    if (!passes(split.separation, split.highCount, m)) return;
    // The high group, and whatever lies beyond the clean group's CLEAN_Z·σ (split.ts).
    let cut = Math.min(split.cut, split.low.mean + CLEAN_Z * split.low.sd);
    let dropped = 0;
    for (let k = 0; k < m; k++) if (residual[k] > cut) dropped++;
    if (dropped > MAX_FLAGGED_SHARE * m) {
      cut = split.cut;
      dropped = split.highCount;
    }
    for (let k = 0; k < m; k++) if (residual[k] > cut) flagged[idx[k]] = 1;
    report.cut = cut;
    report.suspicious = true;
    report.flagged = dropped;
  });
  return { defence: "rpca", layer: o.layer, scores, flagged, classes: reports, parameters: { rank, maxSteps, cleanZ: CLEAN_Z, seed, trimmed: "h = floor(m/2) + 1" } };
}
