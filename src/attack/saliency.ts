// Saliency: the gradient of the loss with respect to the input, per sample. On a robustly
// trained model it concentrates on the digit's strokes; on a natural one it looks like noise.
import type { Model } from "../nn/model.js";
import type { Dataset } from "../data/dataset.js";
import { gather } from "../data/batches.js";

export interface Saliency {
  /** n × inputSize input images. */
  inputs: Float32Array;
  /** n × inputSize gradients of the cross-entropy at the true label. */
  gradients: Float32Array;
  labels: Int32Array;
  predictions: Int32Array;
}

export function saliency(model: Model, ds: Dataset, indices: ArrayLike<number>): Saliency {
  const n = indices.length;
  const plan = model.plan(n);
  gather(ds, indices, plan.input, plan.labels);
  const inputs = plan.input.slice(0, n * model.inputSize);
  model.forward(plan, n);
  const predictions = model.predict(plan, n).slice(0, n);
  model.lossAndGrad(plan, n, 1);
  model.backward(plan, n, { inputGrad: true, weightGrads: false });
  const gradients = model.rt.f32(plan.grads[0], n * model.inputSize).slice();
  return { inputs, gradients, labels: plan.labels.slice(0, n), predictions };
}
