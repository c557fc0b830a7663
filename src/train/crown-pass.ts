// CROWN back-substitution of the margin spec for CROWN-IBP training (Zhang et al. 2020),
// batched: each of the n samples contributes C rows Λ (row (s, j) bounds z_y − z_j; row
// (s, y) stays 0), all n·C rows pushed down the network together by the layers' own
// input-gradient kernels. Intermediate ReLU bounds are the IBP boxes of the interval pass;
// each unstable ReLU is relaxed by h ≥ α·z (α = 1 when u > −l, else 0) and
// h ≤ s·z + t (s = u/(u − l), t = −s·l). Per row:
//     Λ_{L−1} = W_y − W_j,  c = b_y − b_j
//     affine: c += Λ_out·b, Λ_in = Λ_out·W;   ReLU: Λ_in = Λ_out·(α or s), c += [Λ_out < 0]·Λ_out·t
//     m̲ = c + Σ_k min(Λ_0k·lo_k, Λ_0k·hi_k)
// The backward pass differentiates all of it, including s and t through the IBP bounds
// (as the reference implementation does); α is piecewise constant (zero gradient).
import { Model, type Plan } from "../nn/model.js";
import { WGRAD } from "../nn/layer.js";
import { ReLU } from "../nn/relu.js";
import { Dense } from "../nn/dense.js";
import { Normalize } from "../nn/normalize.js";
import { Conv2d } from "../nn/conv2d.js";
import type { CertifiedWorkspace } from "./certified-workspace.js";
import type { BoundGrads } from "./interval-pass.js";

/** The back-substitution model: the weights with zero biases, planned for capacity·C rows. */
interface CrownBuffers {
  bs: Model;
  plan: Plan;
  rows: number;
}

export interface CrownMargins {
  /** n × C lower bounds of z_y − z_j ((s, y) = 0). */
  lower: Float64Array;
  /** Clipped input box of the n samples. */
  lo: Float32Array;
  hi: Float32Array;
}

function buffers(ws: CertifiedWorkspace): CrownBuffers {
  let b = ws.extra.get("crown") as CrownBuffers | undefined;
  if (!b) {
    // Normalisation without its shift: the back-substitution model is linear (zero biases);
    // the shift −mean/std enters through c like a bias (shiftDot).
    const arch = ws.model.arch;
    const linear = { ...arch, layers: arch.layers.map((l) => (l.type === "normalize" ? { ...l, mean: l.mean.map(() => 0) } : l)) };
    const bs = new Model(linear, ws.arena);
    const rows = ws.capacity * ws.model.outputSize;
    const plan = bs.plan(rows);
    // Conv layers keep per-batch offset tables from their forward pass, which their input
    // gradient reads; one forward at the full row count sets them up. Every later call uses
    // exactly this row count (rows past n·C are zero).
    bs.forward(plan, rows);
    b = { bs, plan, rows };
    ws.extra.set("crown", b);
  }
  return b;
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, v) => a * v, 1);
}

/** c_ρ += Λ_ρ·b for every row ρ: an affine layer's bias term (conv biases broadcast over the plane). */
function biasDot(layer: Dense | Conv2d, lam: Float32Array, rows: number, bias: Float32Array, c: Float64Array): void {
  const cout = layer instanceof Dense ? layer.outF : layer.outChannels;
  const plane = layer instanceof Dense ? 1 : layer.outShape[1] * layer.outShape[2];
  const per = cout * plane;
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    const base = r * per;
    for (let ch = 0; ch < cout; ch++) {
      let s = 0;
      for (let p = 0; p < plane; p++) s += lam[base + ch * plane + p];
      acc += s * bias[ch];
    }
    c[r] += acc;
  }
}

/** −mean/std per channel of a normalisation layer, and its plane size. */
function normalizeShift(layer: Normalize, outSize: number): { shift: Float64Array; plane: number } {
  const shift = layer.mean.map((m, ch) => -m / layer.std[ch]);
  return { shift, plane: outSize / shift.length };
}

/** c_ρ += Λ_ρ·shift for every row ρ: a normalisation layer's shift, like a bias. */
function shiftDot(layer: Normalize, lam: Float32Array, rows: number, outSize: number, c: Float64Array): void {
  const { shift, plane } = normalizeShift(layer, outSize);
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    for (let ch = 0; ch < shift.length; ch++) {
      let sum = 0;
      const base = r * outSize + ch * plane;
      for (let p = 0; p < plane; p++) sum += lam[base + p];
      acc += sum * shift[ch];
    }
    c[r] += acc;
  }
}

/** Where layer i's bias starts in the flat parameter buffer (floats), and its length. */
function biasSlice(ws: CertifiedWorkspace, i: number): { off: number; len: number } {
  let off = 0;
  for (let j = 0; j < i; j++) off += ws.model.layers[j].paramCount;
  const shapes = ws.model.layers[i].paramShapes();
  const wlen = sizeOf(shapes[0].shape);
  return { off: off + wlen, len: sizeOf(shapes[1].shape) };
}

/**
 * Lower bounds of the margins by back-substitution (needs intervalForward for these inputs
 * first: the IBP boxes at ReLU inputs come from its centre/radius activations).
 */
export function crownMargins(ws: CertifiedWorkspace, x: Float32Array, labels: Int32Array, n: number, eps: number, lo: number, hi: number): CrownMargins {
  const { rt, model, plan: ip, absPlan } = ws;
  const { bs, plan, rows } = buffers(ws);
  // The back-substitution model shares nothing with the training model but its weights:
  // copy W in with zero biases (the bias terms are added separately).
  bs.params.f32.set(model.params.f32);
  for (let i = 0; i < bs.params.f32.length; i++) if (!ws.isWeight[i]) bs.params.f32[i] = 0;
  const C = model.outputSize;
  const L = model.layers.length;
  const { inF, offset } = ws.last;
  const W = model.params.f32;
  const c = new Float64Array(rows);
  // Λ_{L−1}: rows W_y − W_j (the folded spec) into plan.grads[L − 1].
  const lamTop = rt.f32(plan.grads[L - 1], rows * inF);
  lamTop.fill(0);
  const lastBias = offset + C * inF;
  for (let s = 0; s < n; s++) {
    const y = labels[s];
    for (let j = 0; j < C; j++) {
      if (j === y) continue;
      const r = s * C + j;
      for (let k = 0; k < inF; k++) lamTop[r * inF + k] = W[offset + y * inF + k] - W[offset + j * inF + k];
      c[r] = W[lastBias + y] - W[lastBias + j];
    }
  }
  for (let i = L - 2; i >= 0; i--) {
    const layer = model.layers[i];
    if (layer.aliasesInput) continue;
    const outSize = sizeOf(layer.outShape);
    if (layer instanceof ReLU) {
      const lamOut = rt.f32(plan.grads[i + 1], rows * outSize);
      const lamIn = rt.f32(plan.grads[i], rows * outSize);
      const mu = rt.f32(ip.acts[i], n * outSize);
      const rr = rt.f32(absPlan.acts[i], n * outSize);
      for (let s = 0; s < n; s++) {
        for (let k = 0; k < outSize; k++) {
          const e = s * outSize + k;
          const l = mu[e] - rr[e];
          const u = mu[e] + rr[e];
          for (let j = 0; j < C; j++) {
            const at = (s * C + j) * outSize + k;
            const a = lamOut[at];
            if (l >= 0) lamIn[at] = a;
            else if (u <= 0) lamIn[at] = 0;
            else if (a >= 0) lamIn[at] = u > -l ? a : 0;
            else {
              const slope = u / (u - l);
              lamIn[at] = a * slope;
              c[s * C + j] += a * (-slope * l);
            }
          }
        }
      }
      for (let e = n * C * outSize; e < rows * outSize; e++) lamIn[e] = 0;
      continue;
    }
    if (layer instanceof Dense || layer instanceof Conv2d) {
      const { off, len } = biasSlice(ws, i);
      biasDot(layer, rt.f32(plan.grads[i + 1], rows * outSize), rows, W.subarray(off, off + len), c);
    } else if (layer instanceof Normalize) {
      shiftDot(layer, rt.f32(plan.grads[i + 1], rows * outSize), rows, outSize, c);
    }
    bs.layers[i].backward(plan.ctx, plan.acts[i], plan.acts[i + 1], plan.grads[i + 1], plan.grads[i], rows, WGRAD.skip, plan.caches[i]);
  }
  // The input term over the clipped box.
  const d = model.inputSize;
  const lam0 = rt.f32(plan.grads[0], rows * d);
  const lb = new Float32Array(n * d);
  const hb = new Float32Array(n * d);
  for (let e = 0; e < n * d; e++) {
    lb[e] = Math.max(lo, x[e] - eps);
    hb[e] = Math.min(hi, x[e] + eps);
  }
  const lower = new Float64Array(n * C);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < C; j++) {
      if (j === labels[s]) continue;
      const r = s * C + j;
      let acc = c[r];
      for (let k = 0; k < d; k++) {
        const a = lam0[r * d + k];
        acc += a >= 0 ? a * lb[s * d + k] : a * hb[s * d + k];
      }
      lower[r] = acc;
    }
  }
  return { lower, lo: lb, hi: hb };
}

/**
 * Back-propagates G = dL/dm̲ (n × C) through crownMargins: weight and bias gradients are
 * added into ws.model.grads; returns the gradients on the IBP bounds of each ReLU input,
 * for intervalBackward to carry on into the interval pass.
 */
export function crownMarginBackward(ws: CertifiedWorkspace, cm: CrownMargins, G: Float64Array, labels: Int32Array, n: number): BoundGrads {
  const { rt, model, plan: ip, absPlan } = ws;
  const { bs, plan, rows } = buffers(ws);
  const C = model.outputSize;
  const L = model.layers.length;
  const d = model.inputSize;
  const gW = model.grads.f32;
  const bounds: BoundGrads = new Map();
  // dΛ_0 = G·(lo where Λ ≥ 0, else hi), into plan.acts[0].
  const lam0 = rt.f32(plan.grads[0], rows * d);
  const dLam0 = rt.f32(plan.acts[0], rows * d);
  dLam0.fill(0);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < C; j++) {
      const r = s * C + j;
      const g = G[r];
      if (j === labels[s] || g === 0) continue;
      for (let k = 0; k < d; k++) dLam0[r * d + k] = g * (lam0[r * d + k] >= 0 ? cm.lo[s * d + k] : cm.hi[s * d + k]);
    }
  }
  // Reverse of the substitution, layer 0 upwards: dΛ_out from dΛ_in (plan.acts), with Λ_out
  // (plan.grads) kept from crownMargins.
  bs.grads.f32.fill(0);
  for (let i = 0; i <= L - 2; i++) {
    const layer = model.layers[i];
    if (layer.aliasesInput) continue;
    const outSize = sizeOf(layer.outShape);
    if (layer instanceof ReLU) {
      const lamOut = rt.f32(plan.grads[i + 1], rows * outSize);
      const dIn = rt.f32(plan.acts[i], rows * outSize);
      const dOut = rt.f32(plan.acts[i + 1], rows * outSize);
      const mu = rt.f32(ip.acts[i], n * outSize);
      const rr = rt.f32(absPlan.acts[i], n * outSize);
      const gl = new Float64Array(n * outSize);
      const gu = new Float64Array(n * outSize);
      dOut.fill(0);
      for (let s = 0; s < n; s++) {
        for (let k = 0; k < outSize; k++) {
          const e = s * outSize + k;
          const l = mu[e] - rr[e];
          const u = mu[e] + rr[e];
          if (l >= 0) {
            for (let j = 0; j < C; j++) dOut[(s * C + j) * outSize + k] = dIn[(s * C + j) * outSize + k];
            continue;
          }
          if (u <= 0) continue;
          const w = u - l;
          const slope = u / w;
          const t = -slope * l;
          let dSlope = 0;
          let dT = 0;
          for (let j = 0; j < C; j++) {
            const r = s * C + j;
            const at = r * outSize + k;
            const a = lamOut[at];
            if (a >= 0) dOut[at] = u > -l ? dIn[at] : 0;
            else {
              dOut[at] = dIn[at] * slope + G[r] * t;
              dSlope += dIn[at] * a;
              dT += G[r] * a;
            }
          }
          // s = u/(u − l), t = −u·l/(u − l).
          const w2 = w * w;
          gl[e] = (dSlope * u - dT * u * u) / w2;
          gu[e] = (-dSlope * l + dT * l * l) / w2;
        }
      }
      bounds.set(i, { gl, gu });
      continue;
    }
    // Λ_in = Λ_out·W: dΛ_out = W·dΛ_in (the layer's forward with zero bias), dW += Λ_outᵀ·dΛ_in
    // (its weight gradient with dy = Λ_out, x = dΛ_in); c += Λ_out·b: dΛ_out += G·b, db += G·Λ_out.
    const bl = bs.layers[i];
    bl.forward(plan.ctx, plan.acts[i], plan.acts[i + 1], rows, plan.caches[i]);
    if (layer instanceof Dense || layer instanceof Conv2d) {
      bl.backward(plan.ctx, plan.acts[i], plan.acts[i + 1], plan.grads[i + 1], 0, rows, WGRAD.add, plan.caches[i]);
      const { off, len } = biasSlice(ws, i);
      const bias = model.params.f32.subarray(off, off + len);
      const cout = len;
      const plane = outSize / cout;
      const lamOut = rt.f32(plan.grads[i + 1], rows * outSize);
      const dOut = rt.f32(plan.acts[i + 1], rows * outSize);
      for (let r = 0; r < n * C; r++) {
        const g = G[r];
        if (g === 0) continue;
        for (let ch = 0; ch < cout; ch++) {
          const base = r * outSize + ch * plane;
          let sum = 0;
          for (let p = 0; p < plane; p++) {
            dOut[base + p] += g * bias[ch];
            sum += lamOut[base + p];
          }
          gW[off + ch] += g * sum;
        }
      }
    } else if (layer instanceof Normalize) {
      // c += Λ_out·shift: dΛ_out += G·shift (no parameters).
      const { shift, plane } = normalizeShift(layer, outSize);
      const dOut = rt.f32(plan.acts[i + 1], rows * outSize);
      for (let r = 0; r < n * C; r++) {
        const g = G[r];
        if (g === 0) continue;
        for (let ch = 0; ch < shift.length; ch++) {
          const base = r * outSize + ch * plane;
          for (let p = 0; p < plane; p++) dOut[base + p] += g * shift[ch];
        }
      }
    }
  }
  // Top: Λ_{L−1} = W_y − W_j and c = b_y − b_j.
  const { inF, offset } = ws.last;
  const dTop = rt.f32(plan.acts[L - 1], rows * inF);
  const lastBias = offset + C * inF;
  for (let s = 0; s < n; s++) {
    const y = labels[s];
    for (let j = 0; j < C; j++) {
      const r = s * C + j;
      const g = G[r];
      if (j === y) continue;
      for (let k = 0; k < inF; k++) {
        const v = dTop[r * inF + k];
        gW[offset + y * inF + k] += v;
        gW[offset + j * inF + k] -= v;
      }
      gW[lastBias + y] += g;
      gW[lastBias + j] -= g;
    }
  }
  // The weight gradients of the back-substitution layers (their biases are not used).
  const gb = bs.grads.f32;
  for (let i = 0; i < gb.length; i++) if (ws.isWeight[i]) gW[i] += gb[i];
  return bounds;
}
