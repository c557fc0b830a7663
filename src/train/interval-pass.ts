// Batched interval bound propagation for training, in float32 centre/radius form (Gowal et
// al. 2018): an affine layer maps (μ, r) to (Wμ + b, |W|r) — the centre runs through the
// model's own layers, the radius through the same layers holding |W| and no bias (so convs
// reuse the conv kernels) — ReLU maps the box [μ − r, μ + r] to [relu(μ − r), relu(μ + r)],
// AvgPool and Flatten act on both as they do on one input. The margin spec C = e_y − e_j is
// folded into the last (dense) layer, whose rows become W_y − W_j: tighter than subtracting
// logit intervals. The backward pass mirrors every step; weight gradients go to the
// workspace's two gradient buffers (dL/dW and dL/d|W|).
import { WGRAD } from "../nn/layer.js";
import { ReLU } from "../nn/relu.js";
import type { CertifiedWorkspace } from "./certified-workspace.js";

/** Margin bounds of a batch: entry (s, j) is about z_y − z_j; entries (s, y) are 0. */
export interface FoldedMargins {
  /** Centre (z_y − z_j at the box centres' propagated centre). */
  mu: Float64Array;
  /** Radius (Σ_k |W_yk − W_jk| r_k). The lower bound is mu − rad. */
  rad: Float64Array;
}

/** Gradients on the pre-activation bounds of ReLU layers (CROWN-IBP's share), by layer index. */
export type BoundGrads = Map<number, { gl: Float64Array; gu: Float64Array }>;

/** Index of the first layer that computes (layers before it need no input gradient). */
export function firstComputing(ws: CertifiedWorkspace): number {
  return ws.model.layers.findIndex((l) => !l.aliasesInput);
}

/**
 * Propagates the boxes [x − ε, x + ε] ∩ [lo, hi] of the n inputs in x up to the last layer's
 * input (centres in plan.acts, radii in absPlan.acts) and the centre logits (plan.acts[L]).
 */
export function intervalForward(ws: CertifiedWorkspace, x: Float32Array, n: number, eps: number, lo: number, hi: number): void {
  const { model, plan, abs, absPlan, rt } = ws;
  const d = model.inputSize;
  const mu0 = plan.input;
  const r0 = absPlan.input;
  for (let i = 0; i < n * d; i++) {
    const l = Math.max(lo, x[i] - eps);
    const h = Math.min(hi, x[i] + eps);
    mu0[i] = (l + h) / 2;
    r0[i] = (h - l) / 2;
  }
  const L = model.layers.length;
  for (let i = 0; i < L; i++) {
    const layer = model.layers[i];
    if (layer.aliasesInput) continue;
    if (layer instanceof ReLU) {
      const size = n * model.layers[i].outShape.reduce((a, b) => a * b, 1);
      const mu = rt.f32(plan.acts[i], size);
      const r = rt.f32(absPlan.acts[i], size);
      const muOut = rt.f32(plan.acts[i + 1], size);
      const rOut = rt.f32(absPlan.acts[i + 1], size);
      for (let e = 0; e < size; e++) {
        const l = Math.max(0, mu[e] - r[e]);
        const u = Math.max(0, mu[e] + r[e]);
        muOut[e] = (u + l) / 2;
        rOut[e] = (u - l) / 2;
      }
      continue;
    }
    layer.forward(plan.ctx, plan.acts[i], plan.acts[i + 1], n, plan.caches[i]);
    // The folded last layer's radius is computed per sample by foldedMargins.
    if (i < L - 1) abs.layers[i].forward(absPlan.ctx, absPlan.acts[i], absPlan.acts[i + 1], n, absPlan.caches[i]);
  }
}

/** The folded spec on the last layer: margin centres and radii for labels y. */
export function foldedMargins(ws: CertifiedWorkspace, labels: Int32Array, n: number): FoldedMargins {
  const { rt, plan, absPlan } = ws;
  const { inF, outF: C, offset } = ws.last;
  const L = ws.model.layers.length;
  const z = rt.f32(plan.acts[L], n * C);
  const r = rt.f32(absPlan.acts[L - 1], n * inF);
  const W = ws.model.params.f32;
  const mu = new Float64Array(n * C);
  const rad = new Float64Array(n * C);
  for (let s = 0; s < n; s++) {
    const y = labels[s];
    const wy = offset + y * inF;
    const rs = s * inF;
    for (let j = 0; j < C; j++) {
      if (j === y) continue;
      mu[s * C + j] = z[s * C + y] - z[s * C + j];
      const wj = offset + j * inF;
      let acc = 0;
      for (let k = 0; k < inF; k++) acc += Math.abs(W[wy + k] - W[wj + k]) * r[rs + k];
      rad[s * C + j] = acc;
    }
  }
  return { mu, rad };
}

/**
 * Back-propagates dL/d(margin centre) and dL/d(margin radius) (n × C, entries (s, y)
 * ignored) through the folded last layer and every interval step, adding weight gradients
 * into ws.model.grads (W) and ws.abs.grads (|W|). `bounds` adds gradients on ReLU input bounds.
 */
export function intervalBackward(
  ws: CertifiedWorkspace, labels: Int32Array, n: number, gMu: Float64Array, gRad: Float64Array, bounds?: BoundGrads,
): void {
  const { model, plan, abs, absPlan, rt } = ws;
  const { inF, outF: C, offset } = ws.last;
  const L = model.layers.length;
  const first = firstComputing(ws);
  // Folded last layer, centre: m_j = z_y − z_j, so dz_y = Σ_j g_j and dz_j = −g_j.
  const gz = rt.f32(plan.grads[L], n * C);
  for (let s = 0; s < n; s++) {
    const y = labels[s];
    let gy = 0;
    for (let j = 0; j < C; j++) {
      if (j === y) continue;
      gz[s * C + j] = -gMu[s * C + j];
      gy += gMu[s * C + j];
    }
    gz[s * C + y] = gy;
  }
  const lastLayer = model.layers[L - 1];
  lastLayer.backward(plan.ctx, plan.acts[L - 1], plan.acts[L], plan.grads[L], L - 1 > first ? plan.grads[L - 1] : 0, n, WGRAD.add, plan.caches[L - 1]);
  // Folded last layer, radius: rad_j = Σ_k |D_jk| r_k with D_j = W_y − W_j.
  const r = rt.f32(absPlan.acts[L - 1], n * inF);
  const gr = rt.f32(absPlan.grads[L - 1], n * inF);
  const W = model.params.f32;
  const gW = model.grads.f32;
  for (let s = 0; s < n; s++) {
    const y = labels[s];
    const wy = offset + y * inF;
    const rs = s * inF;
    for (let k = 0; k < inF; k++) gr[rs + k] = 0;
    for (let j = 0; j < C; j++) {
      const g = gRad[s * C + j];
      if (j === y || g === 0) continue;
      const wj = offset + j * inF;
      for (let k = 0; k < inF; k++) {
        const dv = W[wy + k] - W[wj + k];
        gr[rs + k] += Math.abs(dv) * g;
        const gw = Math.sign(dv) * g * r[rs + k];
        gW[wy + k] += gw;
        gW[wj + k] -= gw;
      }
    }
  }
  for (let i = L - 2; i >= first; i--) {
    const layer = model.layers[i];
    if (layer.aliasesInput) continue;
    if (layer instanceof ReLU) {
      const size = n * layer.outShape.reduce((a, b) => a * b, 1);
      const mu = rt.f32(plan.acts[i], size);
      const rr = rt.f32(absPlan.acts[i], size);
      const gMuOut = rt.f32(plan.grads[i + 1], size);
      const gROut = rt.f32(absPlan.grads[i + 1], size);
      const gMuIn = rt.f32(plan.grads[i], size);
      const gRIn = rt.f32(absPlan.grads[i], size);
      const extra = bounds?.get(i);
      for (let e = 0; e < size; e++) {
        // out = ((u⁺ + l⁺)/2, (u⁺ − l⁺)/2) with l⁺ = relu(μ − r), u⁺ = relu(μ + r).
        const lp = mu[e] - rr[e] > 0 ? (gMuOut[e] - gROut[e]) / 2 : 0;
        const up = mu[e] + rr[e] > 0 ? (gMuOut[e] + gROut[e]) / 2 : 0;
        const gl = lp + (extra ? extra.gl[e] : 0);
        const gu = up + (extra ? extra.gu[e] : 0);
        gMuIn[e] = gl + gu;
        gRIn[e] = gu - gl;
      }
      continue;
    }
    const needDx = i > first;
    layer.backward(plan.ctx, plan.acts[i], plan.acts[i + 1], plan.grads[i + 1], needDx ? plan.grads[i] : 0, n, WGRAD.add, plan.caches[i]);
    abs.layers[i].backward(absPlan.ctx, absPlan.acts[i], absPlan.acts[i + 1], absPlan.grads[i + 1], needDx ? absPlan.grads[i] : 0, n, WGRAD.add, absPlan.caches[i]);
  }
}
