// The library's one-call attack, in the style users know: attack(model, x, y, options)
// returns the adversarial inputs and per-sample stats, computed in-process (no workers).
import type { Model } from "../nn/model.js";
import { layoutShard } from "../pool/shard.js";
import { runAttack, type AttackName, type AttackSpec, type SampleOutcome } from "./registry.js";
import { attackStream } from "./threat.js";

export interface AttackCallOptions extends Partial<Omit<AttackSpec, "name">> {
  attack?: AttackName;
  seed?: number;
  /** Samples per internal batch (default 64; black-box attacks need ≥ 17). */
  batch?: number;
}

export interface AttackCallResult {
  /** n × inputSize adversarial inputs. */
  adversarial: Float32Array;
  cleanPredictions: Int32Array;
  outcomes: SampleOutcome[];
  cleanAccuracy: number;
  robustAccuracy: number;
}

export function attack(model: Model, x: Float32Array, y: ArrayLike<number>, options: AttackCallOptions = {}): AttackCallResult {
  const dim = model.inputSize;
  const n = y.length;
  if (x.length !== n * dim) throw new Error(`x holds ${x.length} values; ${n} samples of ${dim} need ${n * dim}`);
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new Error(`x[${i}] is not finite`);
  const spec: AttackSpec = {
    name: options.attack ?? "pgd", norm: options.norm ?? "linf", eps: options.eps ?? 0.3, lo: options.lo ?? 0, hi: options.hi ?? 1,
    steps: options.steps ?? 40, restarts: options.restarts ?? 1, alpha: options.alpha, loss: options.loss ?? "ce",
    randomStart: options.randomStart ?? true, target: options.target ?? null, queries: options.queries ?? 5000,
  };
  if (!(spec.eps >= 0)) throw new Error(`ε must be a non-negative number, got ${spec.eps}`);
  const cap = Math.max(17, Math.min(options.batch ?? 64, Math.max(n, 17)));
  const arena = model.arena;
  const mark = arena.mark();
  const region = layoutShard(model.rt, model.arch, model.params.ptr, mark, cap, true);
  try {
    const adversarial = new Float32Array(n * dim);
    const cleanPredictions = new Int32Array(n);
    const outcomes: SampleOutcome[] = [];
    for (let s = 0; s < n; s += cap) {
      const m = Math.min(cap, n - s);
      region.x0.set(x.subarray(s * dim, (s + m) * dim));
      for (let i = 0; i < m; i++) {
        region.plan.labels[i] = y[s + i];
        region.samples[i] = s + i;
      }
      region.plan.input.set(region.x0.subarray(0, m * dim));
      region.model.forward(region.plan, m);
      cleanPredictions.set(region.model.predict(region.plan, m).subarray(0, m), s);
      region.plan.input.set(region.x0.subarray(0, m * dim));
      outcomes.push(...runAttack(region.model, region.plan, m, region.x0Ptr, spec, { seed: options.seed ?? 0, stream: attackStream(0xa77ac, 0), samples: region.samplesPtr }, region.ws));
      adversarial.set(region.plan.input.subarray(0, m * dim), s * dim);
    }
    const clean = Array.from(cleanPredictions).filter((p, i) => p === y[i]).length;
    const robust = outcomes.filter((o, i) => cleanPredictions[i] === y[i] && !o.success).length;
    return { adversarial, cleanPredictions, outcomes, cleanAccuracy: n ? clean / n : 0, robustAccuracy: n ? robust / n : 0 };
  } finally {
    arena.release(mark);
  }
}
