// Clean-label feature collision ("poison frogs", Shafahi et al. 2018): a poison p that looks like
// a base image b (and keeps b's true label) but sits on a target test image t in the feature
// space of a frozen extractor f, so a classifier retrained on those features puts t where p is.
//
//   p = argmin_x ‖f(x) − f(t)‖² + β‖x − b‖²   over x ∈ [0,1]^d
//
// solved as in the paper's Algorithm 1, by forward-backward splitting: a gradient step on the
// feature term, then the proximal step of the pixel term, x ← (x̂ + λβ·b)/(1 + λβ), then a clip
// to [0,1] (exact for the box too, as both are separable per pixel). That backward step is the
// proximal map of (β/2)‖x − b‖², which is the objective the step-size control below watches.
// As in the authors' code, a step that raises the objective is undone and λ halved; unlike it,
// an accepted step grows λ by 1.5×, so the step size finds the extractor's own scale (features
// of a small MLP and of Inception differ by orders of magnitude) instead of being tuned to it.
// β = β0 · (feature size / input size)², the paper's scaling (β0 = 0.25 with 2048 Inception
// features over 299·299·3 inputs), so β0 means the same thing for any extractor.
import { Stream, hash32 } from "../core/random.js";
import { sampleSize, type Dataset } from "../data/dataset.js";
import type { Model } from "../nn/model.js";
import { FeatureExtractor } from "./features.js";

export interface FeatureCollisionOptions {
  /** Features = output of the first `depth` layers (default: all but the last). */
  depth?: number;
  /** β0 of the paper's β = β0·(features/inputs)² (default 0.25). */
  beta0?: number;
  /** Most forward-backward iterations per poison (default 1000). */
  steps?: number;
  /** Initial step size λ on the feature term (default 0.01; ×1.5 after an accepted step, ½ after a rejected one). */
  lr?: number;
}

export const FEATURE_COLLISION_DEFAULTS = { beta0: 0.25, steps: 1000, lr: 0.01 } as const;

export interface CollisionResult {
  /** k poisons, one per (base, target) pair, row after row. */
  poisons: Float32Array;
  /** ‖f(p) − f(t)‖ per poison. */
  featureDistance: number[];
  /** ‖f(b) − f(t)‖ per poison: where the optimisation started. */
  baseFeatureDistance: number[];
  /** ‖p − b‖₂ and ‖p − b‖∞ per poison. */
  pixelDistance: number[];
  pixelLinf: number[];
  /** Iterations each poison ran before it stopped moving (or hit `steps`). */
  iterations: number[];
  depth: number;
  featureSize: number;
  beta: number;
  beta0: number;
}

/** The scaled β for an extractor with `features` outputs over `inputs` inputs. */
export function collisionBeta(beta0: number, features: number, inputs: number): number {
  return beta0 * (features / inputs) ** 2;
}

/**
 * One poison per row pair of `bases` and `targets` (both k × model.inputSize, values in [0,1]),
 * all optimised together in one batch. Deterministic: no randomness at all.
 */
export function featureCollision(model: Model, bases: Float32Array, targets: Float32Array, o: FeatureCollisionOptions = {}): CollisionResult {
  const d = model.inputSize;
  const k = bases.length / d;
  if (!Number.isInteger(k) || k < 1 || targets.length !== bases.length) {
    throw new Error(`feature collision needs as many targets as bases, each of ${d} values (got ${bases.length} and ${targets.length} values)`);
  }
  const beta0 = o.beta0 ?? FEATURE_COLLISION_DEFAULTS.beta0;
  const steps = o.steps ?? FEATURE_COLLISION_DEFAULTS.steps;
  const lr0 = o.lr ?? FEATURE_COLLISION_DEFAULTS.lr;
  if (!(beta0 >= 0 && Number.isFinite(beta0))) throw new Error(`β0 must be a non-negative number, got ${beta0}`);
  if (!(Number.isInteger(steps) && steps >= 0)) throw new Error(`steps must be a non-negative integer, got ${steps}`);
  if (!(lr0 > 0 && Number.isFinite(lr0))) throw new Error(`step size must be a positive number, got ${lr0}`);
  for (const [name, a] of [["base", bases], ["target", targets]] as const) {
    for (let i = 0; i < a.length; i++) {
      if (!(a[i] >= 0 && a[i] <= 1)) throw new Error(`${name} image ${Math.floor(i / d)} has value ${a[i]} outside [0,1]`);
    }
  }
  const fx = new FeatureExtractor(model, o.depth);
  const m = fx.size;
  const beta = collisionBeta(beta0, m, d);
  const plan = model.plan(k);
  const input = () => model.rt.f32(plan.acts[0], k * d);

  input().set(targets);
  fx.forward(plan, k);
  const ft = fx.features(plan, k).slice();

  // Feature term of every row of the plan's last forward pass; also writes its gradient seed.
  const featureTerm = (out: Float64Array): void => {
    const f = fx.features(plan, k);
    const g = fx.featureGrad(plan, k);
    for (let s = 0; s < k; s++) {
      let sum = 0;
      for (let j = s * m; j < (s + 1) * m; j++) {
        const r = f[j] - ft[j];
        sum += r * r;
        g[j] = 2 * r;
      }
      out[s] = sum;
    }
  };
  const pixelTerm = (x: Float32Array, s: number): number => {
    let sum = 0;
    for (let j = s * d; j < (s + 1) * d; j++) sum += (x[j] - bases[j]) ** 2;
    return sum;
  };

  const x = bases.slice();
  const cand = new Float32Array(k * d);
  const grad = new Float32Array(k * d);
  const feat = new Float64Array(k);
  const obj = new Float64Array(k);
  const lr = new Float64Array(k).fill(lr0);
  const done = new Uint8Array(k);
  const rejected = new Uint8Array(k);
  const iterations = new Array<number>(k).fill(0);

  input().set(x);
  fx.forward(plan, k);
  featureTerm(feat);
  const baseFeatureDistance = Array.from(feat, Math.sqrt);
  for (let s = 0; s < k; s++) obj[s] = feat[s];
  grad.set(fx.inputGradient(plan, k));

  for (let it = 0; it < steps && done.some((v) => v === 0); it++) {
    // Forward (gradient) step, backward (proximal) step and clip, for every row still moving.
    for (let s = 0; s < k; s++) {
      const a = lr[s];
      const c = a * beta;
      for (let j = s * d; j < (s + 1) * d; j++) {
        if (done[s]) {
          cand[j] = x[j];
          continue;
        }
        const v = (x[j] - a * grad[j] + c * bases[j]) / (1 + c);
        cand[j] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
    input().set(cand);
    fx.forward(plan, k);
    featureTerm(feat);
    const accepted: boolean[] = [];
    for (let s = 0; s < k; s++) {
      accepted.push(false);
      if (done[s]) continue;
      const newObj = feat[s] + 0.5 * beta * pixelTerm(cand, s);
      if (newObj < obj[s]) {
        let moved = 0;
        let size = 0;
        for (let j = s * d; j < (s + 1) * d; j++) {
          moved += (cand[j] - x[j]) ** 2;
          size += x[j] * x[j];
        }
        x.set(cand.subarray(s * d, (s + 1) * d), s * d);
        obj[s] = newObj;
        accepted[s] = true;
        iterations[s] = it + 1;
        lr[s] *= 1.5;
        rejected[s] = 0;
        if (moved <= 1e-14 * Math.max(size, 1)) done[s] = 1;
      } else {
        lr[s] /= 2;
        // 40 halvings in a row: no step of any useful size lowers the objective.
        if (++rejected[s] >= 40) done[s] = 1;
      }
    }
    // The plan now holds the candidates' activations: the gradient there is the gradient at x
    // for every accepted row; rejected rows keep the gradient they had.
    if (accepted.some(Boolean)) {
      const g = fx.inputGradient(plan, k);
      for (let s = 0; s < k; s++) if (accepted[s]) grad.set(g.subarray(s * d, (s + 1) * d), s * d);
    }
  }

  input().set(x);
  fx.forward(plan, k);
  featureTerm(feat);
  const pixelDistance: number[] = [];
  const pixelLinf: number[] = [];
  for (let s = 0; s < k; s++) {
    pixelDistance.push(Math.sqrt(pixelTerm(x, s)));
    let mx = 0;
    for (let j = s * d; j < (s + 1) * d; j++) mx = Math.max(mx, Math.abs(x[j] - bases[j]));
    pixelLinf.push(mx);
  }
  return {
    poisons: x, featureDistance: Array.from(feat, Math.sqrt), baseFeatureDistance, pixelDistance, pixelLinf,
    iterations, depth: fx.depth, featureSize: m, beta, beta0,
  };
}

/** ‖f(x) − f(t)‖ for each row pair of xs and targets (k × model.inputSize each). */
export function featureDistances(model: Model, depth: number | undefined, xs: Float32Array, targets: Float32Array): number[] {
  const d = model.inputSize;
  const k = xs.length / d;
  if (!Number.isInteger(k) || targets.length !== xs.length) throw new Error(`featureDistances: ${xs.length} and ${targets.length} values do not make row pairs of ${d}`);
  const fx = new FeatureExtractor(model, depth);
  const plan = model.plan(Math.max(1, Math.min(k, 256)));
  const out: number[] = [];
  for (let s = 0; s < k; s += plan.capacity) {
    const b = Math.min(plan.capacity, k - s);
    const input = model.rt.f32(plan.acts[0], b * d);
    input.set(targets.subarray(s * d, (s + b) * d));
    fx.forward(plan, b);
    const ft = fx.features(plan, b).slice();
    input.set(xs.subarray(s * d, (s + b) * d));
    fx.forward(plan, b);
    const f = fx.features(plan, b);
    for (let r = 0; r < b; r++) {
      let sum = 0;
      for (let j = r * fx.size; j < (r + 1) * fx.size; j++) sum += (f[j] - ft[j]) ** 2;
      out.push(Math.sqrt(sum));
    }
  }
  return out;
}

/** `count` distinct training samples of `baseClass`, chosen by `seed`. */
export function chooseBases(train: Dataset, baseClass: number, count: number, seed: number): number[] {
  if (!(Number.isInteger(baseClass) && baseClass >= 0 && baseClass < train.classes)) {
    throw new Error(`base class must be an integer in 0..${train.classes - 1}, got ${baseClass}`);
  }
  const pool: number[] = [];
  for (let i = 0; i < train.n; i++) if (train.y[i] === baseClass) pool.push(i);
  if (pool.length < count) throw new Error(`the training set has ${pool.length} samples of base class ${baseClass}, ${count} needed`);
  // Partial Fisher–Yates: the first `count` draws of a seeded shuffle.
  const s = new Stream(seed, hash32(0xf20c, baseClass));
  for (let i = 0; i < count; i++) {
    const j = i + s.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count);
}

function rows(ds: Dataset, indices: readonly number[]): Float32Array {
  const size = sampleSize(ds);
  const out = new Float32Array(indices.length * size);
  indices.forEach((i, k) => out.set(ds.x.subarray(i * size, (i + 1) * size), k * size));
  return out;
}

export interface FeatureCollisionPoison extends CollisionResult {
  /** The training set with the poisons appended (labelled with their bases' true labels). */
  data: Dataset;
  /** Indices of the poisons in `data` (the last k samples), ascending. */
  poisoned: number[];
  /** Training indices of the base images and test indices of the targets, per poison. */
  bases: number[];
  targets: number[];
}

/**
 * The dataset-level attack: one poison per target test image, each made from its own training
 * image of `baseClass` (chosen by `seed`) and appended to a copy of the training set.
 */
export function featureCollisionPoison(
  model: Model, train: Dataset, test: Dataset,
  o: FeatureCollisionOptions & { targets: number[]; baseClass: number; seed: number },
): FeatureCollisionPoison {
  if (o.targets.length < 1) throw new Error("feature collision needs at least one target index");
  for (const t of o.targets) {
    if (!(Number.isInteger(t) && t >= 0 && t < test.n)) throw new Error(`target index ${t} is outside the test set (0..${test.n - 1})`);
    if (test.y[t] === o.baseClass) throw new Error(`target ${t} is already of base class ${o.baseClass}: nothing to attack`);
  }
  if (new Set(o.targets).size !== o.targets.length) throw new Error("target indices must be distinct");
  const bases = chooseBases(train, o.baseClass, o.targets.length, o.seed);
  const r = featureCollision(model, rows(train, bases), rows(test, o.targets), o);
  const size = sampleSize(train);
  const n = train.n;
  const k = bases.length;
  const x = new Float32Array((n + k) * size);
  x.set(train.x);
  x.set(r.poisons, n * size);
  const y = new Uint8Array(n + k);
  y.set(train.y);
  for (let i = 0; i < k; i++) y[n + i] = train.y[bases[i]];
  return {
    ...r,
    data: { ...train, name: `${train.name}+feature-collision`, shape: [...train.shape], x, y, n: n + k },
    poisoned: Array.from({ length: k }, (_, i) => n + i),
    bases,
    targets: [...o.targets],
  };
}
