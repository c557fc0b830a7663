// Activation clustering (Chen et al. 2018). Per class: reduce the centred representations to
// a few principal components, split them into two clusters by k-means, and drop the smaller
// cluster when it is a separate population. Chen et al. judge that by the cluster's relative
// size and silhouette; both are reported, but the decision uses the two clusters' Ashman's D
// along the line through their centroids (split.ts), which separated the MNIST backdoor from
// clean classes with a margin where silhouettes did not (cnn-small layer 6: poisoned class
// 0.42, a clean class 0.35). The smaller cluster must also be a clear minority of the class
// (split.ts MAX_POPULATION_SHARE; Chen et al. suggest 0.35, too tight for a backdoor that is a
// third of its target class), so a class that merely has two styles of digit is not cut in half.
import { kmeans } from "ml-kmeans";
import { ashmanD, perClass, CLEAN_Z, columnMeans, MAX_FLAGGED_SHARE, passes, rowsOf, subtractRow, type DefenceResult } from "./split.js";
import { project, topDirections } from "./pca.js";
import { Stream } from "../../core/random.js";

export interface ClusteringOptions {
  layer: number;
  /** Principal components kept before clustering (default 10, as in the paper). */
  dims?: number;
  seed?: number;
}

/** Mean silhouette of a two-cluster labelling over a seeded sample of at most `sample` points. */
function silhouette(z: Float64Array, m: number, d: number, cluster: Int32Array, seed: number, sample = 1000): number {
  const pick: number[] = [];
  if (m <= sample) for (let i = 0; i < m; i++) pick.push(i);
  else {
    const s = new Stream(seed, 0x5117);
    const seen = new Set<number>();
    while (pick.length < sample) {
      const i = s.int(m);
      if (!seen.has(i)) {
        seen.add(i);
        pick.push(i);
      }
    }
  }
  let total = 0, counted = 0;
  for (const i of pick) {
    const sum = [0, 0], cnt = [0, 0];
    for (const j of pick) {
      if (j === i) continue;
      let dd = 0;
      for (let t = 0; t < d; t++) {
        const v = z[i * d + t] - z[j * d + t];
        dd += v * v;
      }
      sum[cluster[j]] += Math.sqrt(dd);
      cnt[cluster[j]]++;
    }
    const own = cluster[i], other = 1 - own;
    if (cnt[own] === 0 || cnt[other] === 0) continue;
    const a = sum[own] / cnt[own], b = sum[other] / cnt[other];
    total += (b - a) / Math.max(a, b, 1e-300);
    counted++;
  }
  return counted ? total / counted : 0;
}

export function activationClustering(acts: Float32Array, width: number, labels: Uint8Array, classes: number, o: ClusteringOptions): DefenceResult {
  const dims = o.dims ?? 10;
  if (!(Number.isInteger(dims) && dims >= 1)) throw new Error(`dims must be a positive integer, got ${dims}`);
  const seed = o.seed ?? 0;
  const { scores, flagged, reports } = perClass(acts, width, labels, classes, 2, { silhouette: 0 }, (c, idx, report, { scores, flagged }) => {
    const m = idx.length;
    const x = rowsOf(acts, width, idx);
    subtractRow(x, m, width, columnMeans(x, m, width));
    const { dirs, k } = topDirections(x, m, width, Math.min(dims, width), seed + c);
    const z = project(x, m, width, dirs, k);
    const points = Array.from({ length: m }, (_, i) => Array.from(z.subarray(i * k, (i + 1) * k)));
    const km = kmeans(points, 2, { initialization: "kmeans++", seed: seed * 1009 + c + 1, maxIterations: 100 });
    const cluster = Int32Array.from(km.clusters);
    const count = [0, 0];
    for (const a of cluster) count[a]++;
    if (count[0] === 0 || count[1] === 0) return;
    const small = count[0] <= count[1] ? 0 : 1;
    // Position along the centroid line, pointing at the smaller cluster: the sample's score.
    const c0 = km.centroids[1 - small], c1 = km.centroids[small];
    const dir = c1.map((v, t) => v - c0[t]);
    const len = Math.hypot(...dir) || 1;
    const t = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += (z[i * k + q] - c0[q]) * dir[q];
      t[i] = s / len;
      scores[idx[i]] = t[i];
    }
    const stats = [0, 1].map((g) => {
      let s = 0, s2 = 0;
      for (let i = 0; i < m; i++) if (cluster[i] === g) { s += t[i]; s2 += t[i] * t[i]; }
      const mean = s / count[g];
      return { mean, variance: Math.max(0, s2 / count[g] - mean * mean) };
    });
    report.separation = ashmanD(stats[0].mean, stats[0].variance, stats[1].mean, stats[1].variance);
    report.share = count[small] / m;
    report.silhouette = silhouette(z, m, k, cluster, seed + c);
    if (!passes(report.separation, count[small], m)) return;
    // The small cluster, and whatever lies beyond the clean cluster's CLEAN_Z·σ toward it.
    const clean = stats[1 - small];
    const edge = clean.mean + CLEAN_Z * Math.sqrt(clean.variance);
    let dropped = 0;
    for (let i = 0; i < m; i++) {
      if (cluster[i] === small || t[i] > edge) {
        flagged[idx[i]] = 1;
        dropped++;
      }
    }
    if (dropped > MAX_FLAGGED_SHARE * m) {
      // Never more than half a class: keep only the cluster itself.
      for (let i = 0; i < m; i++) flagged[idx[i]] = cluster[i] === small ? 1 : 0;
      dropped = count[small];
    }
    report.suspicious = true;
    report.flagged = dropped;
  });
  return { defence: "activation-clustering", layer: o.layer, scores, flagged, classes: reports, parameters: { dims, cleanZ: CLEAN_Z, seed } };
}
