// Score-based gradient estimation driving projected steps: NES (Ilyas et al. 2018,
// Gaussian directions) and SPSA (Uesato et al. 2018, Rademacher directions), both with
// antithetic pairs: ĝ = Σ_k [L(x + σu_k) − L(x − σu_k)] u_k / (2σq), 2q queries per
// estimate, then one L∞ (sign) or L2 (normalised) step, projected onto the ε-ball and the
// data range, and one query at the new point to see whether the sample is done. Directions
// are keyed by (seed, sample index, step, k), so a sample's run does not depend on its batch.
// Probes x ± σu are not clipped to the data range: σ is tiny, and clipping would bias ĝ.
import { fmix32, hash32, STREAM } from "../core/random.js";
import { checkBatch, margin, type BlackBoxBatch, type BlackBoxResult, type Oracle } from "./oracle.js";
import { validateThreat, type ThreatModel } from "./threat.js";

export type Estimator = "nes" | "spsa";

export interface EstimatedPgdOptions extends ThreatModel {
  estimator: Estimator;
  /** Antithetic pairs per estimate (2q queries). */
  q: number;
  /** Finite-difference radius. */
  sigma: number;
  /** Step size. */
  alpha: number;
  /** Most steps per sample (each 2q + 1 queries); the budget may stop a sample sooner. */
  steps: number;
  /** Loss ascended: margin max_{j≠y} s_j − s_y (default) or cross-entropy of the scores. */
  loss?: "margin" | "ce";
}

const NES = 0x4e455321; // "NES!": the attack's own stream family

// Within one direction, draw c is fmix32(k + c·φ) for the direction's key k = hash32(seed,
// stream, key): one finaliser per draw (SplitMix-style) instead of a four-word hash, which
// with the polar method below makes a direction of 784 normals ~5× cheaper than hashing
// every coordinate and Box–Muller with trigonometry.

/** out[off .. off+dim) = a standard normal vector keyed by (seed, stream, key) (Marsaglia's polar method). */
export function gaussianDirection(out: Float32Array, off: number, dim: number, seed: number, stream: number, key: number): void {
  const k = hash32(seed, stream, key);
  let c = 0;
  for (let j = 0; j < dim; ) {
    let u: number, v: number, s: number;
    do {
      u = fmix32((k + Math.imul(++c, 0x9e3779b9)) >>> 0) * 4.656612873077393e-10 - 1;
      v = fmix32((k + Math.imul(++c, 0x9e3779b9)) >>> 0) * 4.656612873077393e-10 - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    out[off + j++] = u * f;
    if (j < dim) out[off + j++] = v * f;
  }
}

/** out[off .. off+dim) = ±1 keyed by (seed, stream, key), 32 signs per draw. */
function rademacherDirection(out: Float32Array, off: number, dim: number, seed: number, stream: number, key: number): void {
  const k = hash32(seed, stream, key);
  let bits = 0;
  for (let j = 0; j < dim; j++) {
    if ((j & 31) === 0) bits = fmix32((k + Math.imul((j >>> 5) + 1, 0x9e3779b9)) >>> 0);
    out[off + j] = (bits >>> (j & 31)) & 1 ? 1 : -1;
  }
}

/** The loss to ascend at one row of scores. */
function lossOf(scores: Float32Array, row: number, classes: number, label: number, kind: "margin" | "ce", probs: boolean): number {
  if (kind === "margin") return -margin(scores, row, classes, label);
  const o = row * classes;
  if (probs) return -Math.log(Math.max(scores[o + label], 1e-30));
  let mx = -Infinity;
  for (let j = 0; j < classes; j++) mx = Math.max(mx, scores[o + j]);
  let s = 0;
  for (let j = 0; j < classes; j++) s += Math.exp(scores[o + j] - mx);
  return mx + Math.log(s) - scores[o + label];
}

/** Rows per oracle call at most, so candidate buffers stay a few MiB. */
const MAX_ROWS = 2048;

/** PGD on estimated gradients. Samples misclassified at x0 (one query) are returned unchanged. */
export function estimatedPgd(oracle: Oracle, b: BlackBoxBatch, o: EstimatedPgdOptions): BlackBoxResult {
  validateThreat(o);
  if (o.estimator !== "nes" && o.estimator !== "spsa") throw new Error(`unknown gradient estimator '${o.estimator}' (expected nes or spsa)`);
  if (!(Number.isInteger(o.q) && o.q >= 1)) throw new Error(`q must be a positive integer, got ${o.q}`);
  if (!(o.sigma > 0)) throw new Error(`σ must be positive, got ${o.sigma}`);
  if (!(o.alpha >= 0)) throw new Error(`step size must be non-negative, got ${o.alpha}`);
  if (oracle.kind === "labels") throw new Error("NES/SPSA need scores, not labels only");
  const n = checkBatch(oracle, b);
  const dim = oracle.dim;
  const C = oracle.classes;
  const kind = o.loss ?? "margin";
  const probs = oracle.kind === "probs";
  const seed = b.seed >>> 0;
  const base = hash32(STREAM.attack, NES, o.estimator === "nes" ? 0 : 1, (b.stream ?? 0) >>> 0);
  const draw = o.estimator === "nes" ? gaussianDirection : rademacherDirection;
  const start = Int32Array.from({ length: n }, (_, i) => oracle.used(i));
  const perStep = 2 * o.q + 1;

  const x = Float32Array.from(b.x0);
  const xbest = Float32Array.from(b.x0);
  const bestLoss = new Float64Array(n).fill(-Infinity);
  const success = new Uint8Array(n);
  const all = Int32Array.from({ length: n }, (_, i) => i);

  // Queries the current points of `who`; records losses, successes and the best points.
  const check = (who: Int32Array): void => {
    const pts = new Float32Array(who.length * dim);
    who.forEach((i, r) => pts.set(x.subarray(i * dim, (i + 1) * dim), r * dim));
    const s = oracle.scores(pts, who);
    who.forEach((i, r) => {
      const l = lossOf(s, r, C, b.labels[i], kind, probs);
      if (margin(s, r, C, b.labels[i]) < 0) success[i] = 1;
      if (l > bestLoss[i] || success[i]) {
        bestLoss[i] = l;
        xbest.set(x.subarray(i * dim, (i + 1) * dim), i * dim);
      }
    });
  };
  check(all);

  const group = Math.max(1, Math.floor(MAX_ROWS / (2 * o.q)));
  const dirs = new Float32Array(Math.min(group, n) * o.q * dim);
  const cand = new Float32Array(Math.min(group, n) * 2 * o.q * dim);
  const grad = new Float64Array(dim);
  for (let step = 0; step < o.steps; step++) {
    const act = all.filter((i) => !success[i] && oracle.remaining(i) >= perStep);
    if (act.length === 0) break;
    const stream = hash32(base, step);
    for (let g0 = 0; g0 < act.length; g0 += group) {
      const who = act.subarray(g0, g0 + group);
      const owners = new Int32Array(who.length * 2 * o.q);
      who.forEach((i, a) => {
        const xi = x.subarray(i * dim, (i + 1) * dim);
        for (let k = 0; k < o.q; k++) {
          const d = (a * o.q + k) * dim;
          draw(dirs, d, dim, seed, stream, hash32(b.samples[i] >>> 0, k));
          const plus = (a * 2 * o.q + 2 * k) * dim;
          const minus = plus + dim;
          for (let j = 0; j < dim; j++) {
            cand[plus + j] = xi[j] + o.sigma * dirs[d + j];
            cand[minus + j] = xi[j] - o.sigma * dirs[d + j];
          }
          owners[a * 2 * o.q + 2 * k] = i;
          owners[a * 2 * o.q + 2 * k + 1] = i;
        }
      });
      const s = oracle.scores(cand, owners);
      who.forEach((i, a) => {
        grad.fill(0);
        for (let k = 0; k < o.q; k++) {
          const r = a * 2 * o.q + 2 * k;
          const diff = lossOf(s, r, C, b.labels[i], kind, probs) - lossOf(s, r + 1, C, b.labels[i], kind, probs);
          const d = (a * o.q + k) * dim;
          for (let j = 0; j < dim; j++) grad[j] += diff * dirs[d + j];
        }
        // The positive factor 1/(2σq) changes neither the sign nor the direction of ĝ.
        stepProjected(x.subarray(i * dim, (i + 1) * dim), b.x0.subarray(i * dim, (i + 1) * dim), grad, o);
      });
    }
    check(act);
  }
  const queries = Int32Array.from({ length: n }, (_, i) => oracle.used(i) - start[i]);
  return { xadv: xbest, success, queries };
}

export function nes(oracle: Oracle, b: BlackBoxBatch, o: Omit<EstimatedPgdOptions, "estimator">): BlackBoxResult {
  return estimatedPgd(oracle, b, { ...o, estimator: "nes" });
}

export function spsa(oracle: Oracle, b: BlackBoxBatch, o: Omit<EstimatedPgdOptions, "estimator">): BlackBoxResult {
  return estimatedPgd(oracle, b, { ...o, estimator: "spsa" });
}

/** x ← Π(x + α·sign(g)) (L∞) or Π(x + α·g/‖g‖₂) (L2), Π onto the ε-ball around x0 ∩ [lo, hi]. */
function stepProjected(x: Float32Array, x0: Float32Array, g: Float64Array, t: ThreatModel & { alpha: number }): void {
  const dim = x.length;
  if (t.norm === "linf") {
    for (let j = 0; j < dim; j++) {
      const v = x[j] + t.alpha * Math.sign(g[j]);
      const lo = Math.max(x0[j] - t.eps, t.lo);
      const hi = Math.min(x0[j] + t.eps, t.hi);
      x[j] = v < lo ? lo : v > hi ? hi : v;
    }
    return;
  }
  let gn = 0;
  for (let j = 0; j < dim; j++) gn += g[j] * g[j];
  const k = gn > 0 ? t.alpha / Math.sqrt(gn) : 0;
  const d = new Float64Array(dim);
  let dn = 0;
  for (let j = 0; j < dim; j++) {
    d[j] = x[j] + k * g[j] - x0[j];
    dn += d[j] * d[j];
  }
  // Shrink onto the ball (a hair inside, for float32 rounding), then clip to the data range.
  const f = Math.sqrt(dn) > t.eps ? (t.eps / Math.sqrt(dn)) * (1 - 1e-6) : 1;
  for (let j = 0; j < dim; j++) {
    const v = x0[j] + f * d[j];
    x[j] = v < t.lo ? t.lo : v > t.hi ? t.hi : v;
  }
}
