// Optimisers over the model's flat parameter buffer: one kernel call per step.
import type { Buf } from "../core/arena.js";
import type { Model } from "../nn/model.js";

export type OptimizerConfig =
  | { name: "sgd"; lr: number; momentum?: number; weightDecay?: number; nesterov?: boolean }
  | { name: "adam"; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; adamw?: boolean };

export interface Optimizer {
  readonly config: OptimizerConfig;
  /** Steps taken so far. */
  readonly t: number;
  /** Applies model.grads to model.params with learning rate lr. */
  step(lr: number): void;
  /** State to checkpoint (all float32 tensors, plus the step count). */
  state(): Record<string, Float32Array>;
  loadState(state: Record<string, Float32Array>): void;
}

class Sgd implements Optimizer {
  t = 0;
  private readonly v: Buf;
  constructor(private readonly model: Model, readonly config: Extract<OptimizerConfig, { name: "sgd" }>) {
    this.v = model.arena.f32(model.paramCount);
  }
  step(lr: number): void {
    const { model, config: c } = this;
    model.rt.k.sgdStep(model.paramCount, model.params.ptr, model.grads.ptr, this.v.ptr,
      lr, c.momentum ?? 0.9, c.weightDecay ?? 0, c.nesterov ? 1 : 0);
    this.t++;
  }
  state(): Record<string, Float32Array> {
    return { "opt.v": this.v.f32.slice(), "opt.t": Float32Array.of(this.t) };
  }
  loadState(s: Record<string, Float32Array>): void {
    this.v.f32.set(need(s, "opt.v", this.v.length));
    this.t = need(s, "opt.t", 1)[0];
  }
}

class Adam implements Optimizer {
  t = 0;
  private readonly m: Buf;
  private readonly v: Buf;
  constructor(private readonly model: Model, readonly config: Extract<OptimizerConfig, { name: "adam" }>) {
    this.m = model.arena.f32(model.paramCount);
    this.v = model.arena.f32(model.paramCount);
  }
  step(lr: number): void {
    const { model, config: c } = this;
    const b1 = c.beta1 ?? 0.9;
    const b2 = c.beta2 ?? 0.999;
    this.t++;
    model.rt.k.adamStep(model.paramCount, model.params.ptr, model.grads.ptr, this.m.ptr, this.v.ptr,
      lr, b1, b2, c.eps ?? 1e-8, 1 - b1 ** this.t, 1 - b2 ** this.t, c.weightDecay ?? 0, c.adamw ? 1 : 0);
  }
  state(): Record<string, Float32Array> {
    return { "opt.m": this.m.f32.slice(), "opt.v": this.v.f32.slice(), "opt.t": Float32Array.of(this.t) };
  }
  loadState(s: Record<string, Float32Array>): void {
    this.m.f32.set(need(s, "opt.m", this.m.length));
    this.v.f32.set(need(s, "opt.v", this.v.length));
    this.t = need(s, "opt.t", 1)[0];
  }
}

function need(s: Record<string, Float32Array>, name: string, length: number): Float32Array {
  const t = s[name];
  if (!t || t.length !== length) throw new Error(`checkpoint optimiser state '${name}' is missing or has the wrong size`);
  return t;
}

export function createOptimizer(model: Model, config: OptimizerConfig): Optimizer {
  if (!(config.lr > 0) || !Number.isFinite(config.lr)) throw new Error(`learning rate must be a positive number, got ${config.lr}`);
  switch (config.name) {
    case "sgd":
      return new Sgd(model, config);
    case "adam":
      return new Adam(model, config);
    default:
      throw new Error(`unknown optimiser '${(config as { name: string }).name}' (expected sgd or adam)`);
  }
}
