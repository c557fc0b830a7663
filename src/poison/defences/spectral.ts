// Spectral signatures (Tran, Li & Madry 2018). Per class: centre the representations, take the
// top singular direction v, score each sample by its squared projection ((r − μ)·v)², and
// remove the 1.5·ε·n highest scores, ε being the poisoned share of the class.
//
// The paper assumes ε is known. Here it is estimated per class from the projections
// themselves: their two-group split (split.ts) must show a separate population (Ashman's
// D ≥ MIN_SEPARATION), and ε̂ is the smaller group's share; a class without one loses
// nothing. (A backdoor toward one class puts all poisons there: 5 % of MNIST is ~32 % of
// class 7, so a dataset-wide ε would remove far too few in that class and far too many
// elsewhere.) `epsilon` overrides ε̂ in the classes that pass the test.
import { perClass, columnMeans, MAX_FLAGGED_SHARE, passes, rowsOf, subtractRow, twoGroupSplit, type DefenceResult } from "./split.js";
import { project, topDirections } from "./pca.js";

export interface SpectralOptions {
  layer: number;
  /** Removal budget per suspicious class, as a multiple of ε (default 1.5, as in the paper). */
  removalFactor?: number;
  /** Poisoned share of a suspicious class (default: estimated per class). */
  epsilon?: number;
  seed?: number;
}

export function spectralSignatures(acts: Float32Array, width: number, labels: Uint8Array, classes: number, o: SpectralOptions): DefenceResult {
  const factor = o.removalFactor ?? 1.5;
  if (!(factor > 0 && Number.isFinite(factor))) throw new Error(`removal factor must be positive, got ${factor}`);
  if (o.epsilon !== undefined && !(o.epsilon > 0 && o.epsilon <= MAX_FLAGGED_SHARE)) {
    throw new Error(`epsilon must be in (0, ${MAX_FLAGGED_SHARE}], got ${o.epsilon}`);
  }
  const seed = o.seed ?? 0;
  const { scores, flagged, reports } = perClass(acts, width, labels, classes, 2, { epsilon: 0 }, (c, idx, report, { scores, flagged }) => {
    const m = idx.length;
    const x = rowsOf(acts, width, idx);
    subtractRow(x, m, width, columnMeans(x, m, width));
    const { dirs } = topDirections(x, m, width, 1, seed + c);
    const p = project(x, m, width, dirs, 1);
    for (let k = 0; k < m; k++) scores[idx[k]] = p[k] * p[k];
    const split = twoGroupSplit(p);
    const minority = Math.min(split.lowCount, split.highCount);
    report.separation = split.separation;
    report.share = minority / m;
    if (!passes(split.separation, minority, m)) return;
    const eps = o.epsilon ?? minority / m;
    // Never the whole class: at most half of it, whatever ε and the factor say.
    const remove = Math.min(Math.ceil(factor * eps * m), Math.floor(MAX_FLAGGED_SHARE * m));
    const order = Array.from({ length: m }, (_, k) => k).sort((a, b) => scores[idx[b]] - scores[idx[a]] || a - b);
    for (let r = 0; r < remove; r++) flagged[idx[order[r]]] = 1;
    report.suspicious = true;
    report.flagged = remove;
    report.epsilon = eps;
  });
  return { defence: "spectral", layer: o.layer, scores, flagged, classes: reports, parameters: { removalFactor: factor, epsilon: o.epsilon ?? "estimated", seed } };
}
