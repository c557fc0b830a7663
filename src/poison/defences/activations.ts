// The representation a defence looks at: the output of one layer of a trained model for every
// training sample. Detection depends strongly on the layer (a backdoor is often invisible in
// the first layers and obvious in the last hidden one), so the layer is always named by the
// caller; `describeLayers` lists the choices for error messages.
import { gather } from "../../data/batches.js";
import { sampleSize, type Dataset } from "../../data/dataset.js";
import type { Model } from "../../nn/model.js";

/** One line per layer: "3 relu [100]", for help and errors. */
export function describeLayers(model: Model): string {
  return model.layers.map((l, i) => `${i} ${l.spec.type} [${l.outShape.join("×")}]`).join(", ");
}

export function checkLayer(model: Model, layer: number): void {
  const last = model.layers.length - 1;
  if (!(Number.isInteger(layer) && layer >= 0 && layer <= last)) {
    throw new Error(`layer ${layer} is not a layer of this model (0..${last}: ${describeLayers(model)})`);
  }
}

/** Features per sample at the output of `layer`. */
export function layerWidth(model: Model, layer: number): number {
  checkLayer(model, layer);
  return model.layers[layer].outShape.reduce((a, b) => a * b, 1);
}

/**
 * Output of `layer` (0-based index into model.layers) for every sample of ds: an n × width
 * row-major Float32Array. Runs the model only up to that layer. Non-finite activations (a
 * diverged model) are an error rather than scores that silently compare false.
 */
export function layerActivations(model: Model, ds: Dataset, layer: number, batchSize = 500): { data: Float32Array; width: number } {
  const width = layerWidth(model, layer);
  if (model.inputSize !== sampleSize(ds)) throw new Error(`model expects ${model.inputSize} input values per sample, data has ${sampleSize(ds)}`);
  const out = new Float32Array(ds.n * width);
  const plan = model.plan(batchSize);
  const idx = new Uint32Array(batchSize);
  for (let start = 0; start < ds.n; start += batchSize) {
    const b = Math.min(batchSize, ds.n - start);
    for (let i = 0; i < b; i++) idx[i] = start + i;
    gather(ds, idx.subarray(0, b), plan.input, plan.labels);
    for (let i = 0; i <= layer; i++) {
      const l = model.layers[i];
      if (!l.aliasesInput) l.forward(plan.ctx, plan.acts[i], plan.acts[i + 1], b, plan.caches[i]);
    }
    // Re-read the view each batch: WASM memory may have grown since the plan was made.
    out.set(model.rt.f32(plan.acts[layer + 1], b * width), start * width);
  }
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) throw new Error(`layer ${layer} gives a non-finite activation for sample ${Math.floor(i / width)} (is the model diverged?)`);
  }
  return { data: out, width };
}
