// Model stealing: query a black-box victim on a query set (labels only, or its probability
// vectors), train a surrogate of a chosen architecture to imitate it, and measure agreement.
// Training runs in-process: the surrogate learns from soft or hard victim answers, which the
// sharded objectives (hard labels) do not cover.
import type { Dataset } from "../data/dataset.js";
import { epochOrder, batchIndices, gather } from "../data/batches.js";
import type { Model } from "../nn/model.js";
import { createOptimizer } from "./optimizer.js";
import { predictAll } from "./evaluate.js";
import { learningRate } from "./schedule.js";
import { ModelOracle } from "../attack/oracle.js";

export interface StealOptions {
  /** "labels": the victim's top-1 label only; "probs": its softmax probabilities. */
  access: "labels" | "probs";
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  onEpoch?: (epoch: number, loss: number) => void;
}

/** The victim's answers on every query point: n × classes probabilities (one-hot for labels). */
export function queryVictim(victim: Model, queries: Dataset, access: StealOptions["access"]): Float32Array {
  const classes = victim.outputSize;
  const dim = victim.inputSize;
  const oracle = new ModelOracle(victim, queries.n, { kind: access === "labels" ? "labels" : "probs" });
  const out = new Float32Array(queries.n * classes);
  const chunk = 256;
  for (let s = 0; s < queries.n; s += chunk) {
    const n = Math.min(chunk, queries.n - s);
    const x = queries.x.subarray(s * dim, (s + n) * dim);
    const owners = Array.from({ length: n }, (_, i) => s + i);
    if (access === "labels") {
      const lab = oracle.labels(x, owners, n);
      for (let i = 0; i < n; i++) out[(s + i) * classes + lab[i]] = 1;
    } else {
      out.set(oracle.scores(x, owners, n).subarray(0, n * classes), s * classes);
    }
  }
  return out;
}

/** Trains `surrogate` by cross-entropy to the victim's answers; returns the last epoch's loss. */
export async function trainSurrogate(surrogate: Model, queries: Dataset, answers: Float32Array, o: StealOptions): Promise<number> {
  const classes = surrogate.outputSize;
  const opt = createOptimizer(surrogate, { name: "adam", lr: o.lr });
  const plan = surrogate.plan(o.batchSize);
  const dz = surrogate.rt.f32(plan.grads[surrogate.layers.length], o.batchSize * classes);
  const logits = plan.logits;
  let last = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const batches = batchIndices(epochOrder(queries.n, o.seed, epoch), o.batchSize, false);
    let lossSum = 0;
    for (let b = 0; b < batches.length; b++) {
      const idx = batches[b];
      const n = idx.length;
      gather(queries, idx, plan.input, plan.labels);
      surrogate.forward(plan, n);
      // Soft cross-entropy: dL/dz = (softmax(z) − p) / n.
      for (let r = 0; r < n; r++) {
        let m = -Infinity;
        for (let j = 0; j < classes; j++) m = Math.max(m, logits[r * classes + j]);
        let s = 0;
        for (let j = 0; j < classes; j++) s += Math.exp(logits[r * classes + j] - m);
        const lse = m + Math.log(s);
        for (let j = 0; j < classes; j++) {
          const p = answers[idx[r] * classes + j];
          const q = Math.exp(logits[r * classes + j] - lse);
          if (p > 0) lossSum -= p * (logits[r * classes + j] - lse);
          dz[r * classes + j] = (q - p) / n;
        }
      }
      surrogate.backward(plan, n);
      opt.step(learningRate({ name: "onecycle", peak: 0.4 }, o.lr, epoch + b / batches.length, o.epochs));
      if (b % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    last = lossSum / queries.n;
    o.onEpoch?.(epoch + 1, last);
  }
  return last;
}

/** Share of samples on which two models predict the same class. */
export function agreement(a: Model, b: Model, ds: Dataset): number {
  const ya = predictAll(a, ds);
  const yb = predictAll(b, ds);
  let same = 0;
  for (let i = 0; i < ds.n; i++) if (ya[i] === yb[i]) same++;
  return ds.n ? same / ds.n : 0;
}
