// Where a certified-training step computes. The interval passes need about three times the
// buffers of a plain step (centre and radius activations, their gradients and conv caches,
// and for CROWN-IBP the back-substituted rows of the spec), far more than a shard region of
// the shared memory holds. So each thread keeps a private instance of the same WASM module
// over its own memory, copies the shard's weights in at the start of a step, and writes the
// finished gradient into the shard's slot at the end: the region layout, the engine and the
// pool stay as they are, and results stay independent of which thread ran a shard.
import { Arena } from "../core/arena.js";
import { Runtime } from "../core/runtime.js";
import type { Architecture } from "../nn/architectures.js";
import { Dense } from "../nn/dense.js";
import { Model, type Plan } from "../nn/model.js";

export interface CertifiedWorkspace {
  rt: Runtime;
  arena: Arena;
  capacity: number;
  /** A private copy of the shard's weights; its gradient buffer collects dL/dθ. */
  model: Model;
  plan: Plan;
  /** |W| with zero biases (the radius pass); its gradient buffer collects dL/d|W|. */
  abs: Model;
  absPlan: Plan;
  /** 1 where the flat parameter is a weight (|·| applies), 0 for a bias. */
  isWeight: Uint8Array;
  /** The folded last layer: its shape (out × in), and where its weights start in the flat buffer. */
  last: { inF: number; outF: number; offset: number };
  /** Lazily made extra buffers (CROWN-IBP), by name. */
  extra: Map<string, unknown>;
}

const perRuntime = new WeakMap<Runtime, Map<string, CertifiedWorkspace>>();

/** The calling thread's workspace for (architecture, capacity), made on first use. */
export function certifiedWorkspace(owner: Runtime, arch: Architecture, capacity: number): CertifiedWorkspace {
  let byKey = perRuntime.get(owner);
  if (!byKey) {
    byKey = new Map();
    perRuntime.set(owner, byKey);
  }
  const key = `${capacity}:${JSON.stringify(arch.inputShape)}:${JSON.stringify(arch.layers)}`;
  let ws = byKey.get(key);
  if (!ws) {
    ws = makeWorkspace(owner, arch, capacity);
    byKey.set(key, ws);
  }
  return ws;
}

function makeWorkspace(owner: Runtime, arch: Architecture, capacity: number): CertifiedWorkspace {
  const rt = new Runtime({ module: owner.module, simd: owner.variant });
  const arena = new Arena(rt);
  const model = new Model(arch, arena);
  // The radius model: |W| and no bias (loadWeights), and normalisation as the pure scaling by
  // 1/|std| — a radius has no mean to subtract.
  const absArch: Architecture = {
    ...arch,
    layers: arch.layers.map((l) => (l.type === "normalize" ? { ...l, mean: l.mean.map(() => 0), std: l.std.map(Math.abs) } : l)),
  };
  const abs = new Model(absArch, arena);
  const lastLayer = model.layers[model.layers.length - 1];
  if (!(lastLayer instanceof Dense)) {
    throw new Error(`certified training needs a dense last layer (the margin spec is folded into it), got ${lastLayer.spec.type}`);
  }
  const isWeight = new Uint8Array(model.paramCount);
  let off = 0;
  for (const l of model.layers) {
    for (const p of l.paramShapes()) {
      const size = p.shape.reduce((a, b) => a * b, 1);
      if (p.name === "weight") isWeight.fill(1, off, off + size);
      off += size;
    }
  }
  const lastOffset = model.paramCount - lastLayer.paramCount;
  return {
    rt, arena, capacity, model, plan: model.plan(capacity), abs, absPlan: abs.plan(capacity), isWeight,
    last: { inF: lastLayer.inF, outF: lastLayer.outF, offset: lastOffset },
    extra: new Map(),
  };
}

/** Copies the weights in: W into the private model, |W| (biases 0) into the radius model. */
export function loadWeights(ws: CertifiedWorkspace, params: Float32Array): void {
  ws.model.params.f32.set(params);
  const a = ws.abs.params.f32;
  const m = ws.isWeight;
  for (let i = 0; i < params.length; i++) a[i] = m[i] ? Math.abs(params[i]) : 0;
  ws.model.grads.f32.fill(0);
  ws.abs.grads.f32.fill(0);
}

/**
 * The step's gradient into `out` (the shard's slot): dL/dθ plus, for weights, sign(W)·dL/d|W|
 * (the radius pass's share; |W| is not differentiable at 0, where we take 0).
 */
export function storeGradient(ws: CertifiedWorkspace, out: Float32Array): void {
  const g = ws.model.grads.f32;
  const ga = ws.abs.grads.f32;
  const w = ws.model.params.f32;
  const m = ws.isWeight;
  for (let i = 0; i < out.length; i++) out[i] = m[i] ? g[i] + Math.sign(w[i]) * ga[i] : g[i];
}
