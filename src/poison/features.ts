// A frozen feature extractor: the first `depth` layers of a model, run on the model's own plan.
// Forward stops at acts[depth]; backward starts from plan.grads[depth] (set by the caller) and
// always reaches the input, with no weight gradients — what feature-space attacks need.
import { sampleSize, type Dataset } from "../data/dataset.js";
import { sizeOf, WGRAD } from "../nn/layer.js";
import type { Model, Plan } from "../nn/model.js";

/** The usual choice: everything but the last layer (the penultimate activations). */
export function defaultFeatureDepth(model: Model): number {
  return model.layers.length - 1;
}

export class FeatureExtractor {
  /** Floats per sample at the extractor's output. */
  readonly size: number;

  constructor(readonly model: Model, readonly depth: number = defaultFeatureDepth(model)) {
    const n = model.layers.length;
    if (!Number.isInteger(depth) || depth < 1 || depth > n - 1) {
      throw new Error(`feature layer ${depth} is out of range: the model has ${n} layers, so it must be in 1..${n - 1}`);
    }
    this.size = sizeOf(model.layers[depth - 1].outShape);
  }

  /** Runs layers 0..depth-1 on plan.input[0 .. batch); returns the address of the features. */
  forward(plan: Plan, batch: number): number {
    check(plan, batch);
    const { layers } = this.model;
    for (let i = 0; i < this.depth; i++) {
      const l = layers[i];
      if (!l.aliasesInput) l.forward(plan.ctx, plan.acts[i], plan.acts[i + 1], batch, plan.caches[i]);
    }
    return plan.acts[this.depth];
  }

  /** The features of the last forward call, as a view (valid until the next call). */
  features(plan: Plan, batch: number): Float32Array {
    return this.model.rt.f32(plan.acts[this.depth], batch * this.size);
  }

  /** Where the caller writes dL/dfeatures before inputGradient (a view of plan.grads[depth]). */
  featureGrad(plan: Plan, batch: number): Float32Array {
    return this.model.rt.f32(plan.grads[this.depth], batch * this.size);
  }

  /** Back-propagates plan.grads[depth] to dL/dinput, returned as a view of plan.grads[0]. */
  inputGradient(plan: Plan, batch: number): Float32Array {
    check(plan, batch);
    const { layers } = this.model;
    for (let i = this.depth - 1; i >= 0; i--) {
      const l = layers[i];
      if (l.aliasesInput) continue;
      l.backward(plan.ctx, plan.acts[i], plan.acts[i + 1], plan.grads[i + 1], plan.grads[i], batch, WGRAD.skip, plan.caches[i]);
    }
    return this.model.rt.f32(plan.grads[0], batch * this.model.inputSize);
  }

  /** Features of samples `indices` of ds (default: all), row after row, in batches. */
  ofDataset(ds: Dataset, indices?: ArrayLike<number>, batchSize = 500): Float32Array {
    const size = sampleSize(ds);
    if (size !== this.model.inputSize) throw new Error(`${ds.name}: samples of ${size} values, the model expects ${this.model.inputSize}`);
    const idx = indices ?? Uint32Array.from({ length: ds.n }, (_, i) => i);
    const out = new Float32Array(idx.length * this.size);
    const plan = this.model.plan(Math.min(batchSize, Math.max(1, idx.length)));
    const b0 = plan.capacity;
    for (let s = 0; s < idx.length; s += b0) {
      const b = Math.min(b0, idx.length - s);
      const input = this.model.rt.f32(plan.acts[0], b * size);
      for (let k = 0; k < b; k++) {
        const i = idx[s + k];
        if (!(Number.isInteger(i) && i >= 0 && i < ds.n)) throw new Error(`${ds.name}: index ${i} is outside 0..${ds.n - 1}`);
        input.set(ds.x.subarray(i * size, (i + 1) * size), k * size);
      }
      this.forward(plan, b);
      out.set(this.features(plan, b), s * this.size);
    }
    return out;
  }
}

function check(plan: Plan, batch: number): void {
  if (!(batch >= 1 && batch <= plan.capacity)) throw new Error(`batch ${batch} outside plan capacity ${plan.capacity}`);
}
