// A sequential model: layers over one flat parameter buffer (and one flat gradient buffer)
// in WASM memory, each layer a view. Activations live in a Plan made for a batch size.
import { defaultArena, type Arena, type Buf } from "../core/arena.js";
import { hash32, Stream, STREAM } from "../core/random.js";
import { runtime, type Runtime } from "../core/runtime.js";
import type { Architecture } from "./architectures.js";
import { buildLayers } from "./build.js";
import { sizeOf, WGRAD, type Ctx, type Layer } from "./layer.js";

/** Buffers for running a model at up to `capacity` samples per call. */
export interface Plan {
  capacity: number;
  ctx: Ctx;
  /** acts[0] is the input, acts[i+1] the output of layer i (byte addresses). */
  acts: number[];
  /** grads[i]: dL/d acts[i]; grads[0] is written only when an input gradient is asked for. */
  grads: number[];
  /** caches[i]: layer i's forward-to-backward region (0 when it keeps nothing). */
  caches: number[];
  /** Views of the input, the logits and the labels, sized for `capacity`. */
  input: Float32Array;
  logits: Float32Array;
  labels: Int32Array;
  labelsPtr: number;
  /** Per-sample scratch (predictions, losses). */
  pred: Int32Array;
  predPtr: number;
  losses: Float32Array;
  lossesPtr: number;
}

/** Where a model's buffers live when they are not its own (a worker's view of shared weights). */
export interface ModelBuffers {
  /** Byte address of an existing parameter buffer (not zeroed, not owned). */
  params?: number;
  /** Byte address of the gradient buffer to write into. */
  grads?: number;
}

export class Model {
  readonly layers: Layer[];
  readonly paramCount: number;
  readonly params: Buf;
  grads: Buf;
  readonly inputSize: number;
  readonly outputSize: number;
  private plans: Plan | undefined;

  constructor(readonly arch: Architecture, readonly arena: Arena = defaultArena(runtime()), buffers: ModelBuffers = {}) {
    this.layers = buildLayers(arch.inputShape, arch.layers);
    this.inputSize = sizeOf(arch.inputShape);
    const out = this.layers[this.layers.length - 1].outShape;
    if (out.length !== 1) throw new Error(`the last layer must output a vector of logits, got [${out.join(",")}]`);
    this.outputSize = out[0];
    this.paramCount = this.layers.reduce((s, l) => s + l.paramCount, 0);
    const view = (ptr: number): Buf => ({ ptr, length: this.paramCount, f32: arena.rt.f32(ptr, this.paramCount) });
    this.params = buffers.params !== undefined ? view(buffers.params) : arena.f32(this.paramCount);
    this.grads = buffers.grads !== undefined ? view(buffers.grads) : arena.f32(this.paramCount);
    this.bindLayers();
  }

  /** Sends weight gradients to another buffer (a shard's slot) from now on. */
  setGradBuffer(ptr: number): void {
    if (ptr === this.grads.ptr) return;
    this.grads = { ptr, length: this.paramCount, f32: this.rt.f32(ptr, this.paramCount) };
    this.bindLayers();
  }

  private bindLayers(): void {
    let off = 0;
    for (const l of this.layers) {
      l.bind(this.params.ptr + off * 4, this.grads.ptr + off * 4);
      off += l.paramCount;
    }
  }

  get rt(): Runtime {
    return this.arena.rt;
  }

  /** Each layer's slice of the flat parameter buffer. */
  layerParams(i: number): Float32Array {
    let off = 0;
    for (let j = 0; j < i; j++) off += this.layers[j].paramCount;
    return this.params.f32.subarray(off, off + this.layers[i].paramCount);
  }

  /** Seeded initialisation: layer i draws from its own stream, so layers are independent. */
  init(seed: number): this {
    this.layers.forEach((l, i) => l.init(this.layerParams(i), new Stream(seed, hash32(STREAM.init, i))));
    return this;
  }

  setParams(values: Float32Array): void {
    if (values.length !== this.paramCount) {
      throw new Error(`parameter count mismatch: model has ${this.paramCount}, got ${values.length}`);
    }
    this.params.f32.set(values);
  }

  /** Buffers for batches of up to `capacity` samples (reused while large enough). */
  plan(capacity: number): Plan {
    if (this.plans && this.plans.capacity >= capacity) return this.plans;
    const a = this.arena;
    const scratchFloats = Math.max(1, ...this.layers.map((l) => l.scratchFloats(capacity)));
    const ctx: Ctx = {
      rt: a.rt,
      k: a.rt.k,
      gemmWork: a.bytes(a.rt.k.gemmWorkBytes()),
      scratch: a.f32(scratchFloats).ptr,
    };
    const acts = [a.f32(capacity * this.inputSize).ptr];
    const grads = [a.f32(capacity * this.inputSize).ptr];
    for (const l of this.layers) {
      if (l.aliasesInput) {
        // Output and its gradient share the input's buffers.
        acts.push(acts[acts.length - 1]);
        grads.push(grads[grads.length - 1]);
      } else {
        acts.push(a.f32(capacity * sizeOf(l.outShape)).ptr);
        grads.push(a.f32(capacity * sizeOf(l.outShape)).ptr);
      }
    }
    const caches = this.layers.map((l) => {
      const n = l.cacheFloats(capacity);
      return n > 0 ? a.f32(n).ptr : 0;
    });
    const labels = a.i32(capacity);
    const pred = a.i32(capacity);
    const losses = a.f32(capacity);
    const last = acts[acts.length - 1];
    this.plans = {
      capacity, ctx, acts, grads, caches,
      input: a.rt.f32(acts[0], capacity * this.inputSize),
      logits: a.rt.f32(last, capacity * this.outputSize),
      labels: labels.i32, labelsPtr: labels.ptr,
      pred: pred.i32, predPtr: pred.ptr,
      losses: losses.f32, lossesPtr: losses.ptr,
    };
    return this.plans;
  }

  /** Runs the model on plan.input[0 .. batch); returns the address of the logits. */
  forward(plan: Plan, batch: number): number {
    checkBatch(plan, batch);
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i];
      if (!l.aliasesInput) l.forward(plan.ctx, plan.acts[i], plan.acts[i + 1], batch, plan.caches[i]);
    }
    return plan.acts[this.layers.length];
  }

  /**
   * Back-propagates plan.grads[last] (dL/dlogits, set by the caller). Weight gradients go
   * to `grads` (added when accumulate; not computed at all with weightGrads: false, as
   * attacks need). With inputGrad, dL/dx lands in plan.grads[0]; without it the first
   * layer skips that product.
   */
  backward(plan: Plan, batch: number, opts: { inputGrad?: boolean; accumulate?: boolean; weightGrads?: boolean } = {}): void {
    checkBatch(plan, batch);
    const wgrad = opts.weightGrads === false ? WGRAD.skip : opts.accumulate ? WGRAD.add : WGRAD.write;
    // Layers before the first one that computes need no input gradient (unless asked).
    const first = this.layers.findIndex((l) => !l.aliasesInput);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      if (l.aliasesInput) continue;
      const dx = i > first || opts.inputGrad ? plan.grads[i] : 0;
      l.backward(plan.ctx, plan.acts[i], plan.acts[i + 1], plan.grads[i + 1], dx, batch, wgrad, plan.caches[i]);
    }
  }

  /** Mean softmax cross-entropy of the logits against plan.labels; sets dL/dlogits. */
  lossAndGrad(plan: Plan, batch: number, scale = 1 / batch): number {
    const last = this.layers.length;
    const total = this.rt.k.softmaxCrossEntropy(
      plan.acts[last], plan.labelsPtr, batch, this.outputSize, plan.grads[last], scale, plan.lossesPtr);
    return total / batch;
  }

  /** Arg-max class of each of the first `batch` rows of logits into plan.pred. */
  predict(plan: Plan, batch: number): Int32Array {
    this.rt.k.argmaxRows(plan.acts[this.layers.length], batch, this.outputSize, plan.predPtr);
    return plan.pred;
  }
}

function checkBatch(plan: Plan, batch: number): void {
  if (!(batch >= 1 && batch <= plan.capacity)) throw new Error(`batch ${batch} outside plan capacity ${plan.capacity}`);
}
