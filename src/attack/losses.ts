// Per-sample attack losses over logits and their gradient w.r.t. the logits. Every loss is
// written as an objective the attacker *maximises* (targeted CE is −CE to the target), so
// every attack only ever ascends. The gradient goes into plan.grads[last] and is back-
// propagated to the input only: attacks never compute weight gradients.
import type { Model, Plan } from "../nn/model.js";

export type AttackLoss = "ce" | "margin" | "dlr";
export const ATTACK_LOSSES: readonly AttackLoss[] = ["ce", "margin", "dlr"];

/** n int32 target classes: an array, or the address of one in WASM memory. */
export type Targets = Int32Array | number;

/** DLR's guard against a zero denominator (Croce & Hein). */
const DLR_DELTA = 1e-12;

export function validateLoss(loss: string, classes: number, targeted: boolean): asserts loss is AttackLoss {
  if (!(ATTACK_LOSSES as readonly string[]).includes(loss)) {
    throw new Error(`unknown attack loss '${loss}' (expected ${ATTACK_LOSSES.join(", ")})`);
  }
  // DLR's denominator reads the 3rd (untargeted) or 4th (targeted) largest logit.
  const need = loss === "dlr" ? (targeted ? 4 : 3) : 2;
  if (classes < need) throw new Error(`the ${targeted ? "targeted " : ""}${loss} loss needs at least ${need} classes, the model has ${classes}`);
}

/** The first n targets as a view, checked to be classes of the model; undefined when untargeted. */
export function targetView(model: Model, n: number, targets: Targets | undefined): Int32Array | undefined {
  if (targets === undefined) return undefined;
  const t = typeof targets === "number" ? model.rt.i32(targets, n) : targets;
  if (t.length < n) throw new Error(`${t.length} targets for ${n} samples`);
  for (let i = 0; i < n; i++) {
    if (!(t[i] >= 0 && t[i] < model.outputSize)) throw new Error(`target class ${t[i]} of sample ${i} outside 0..${model.outputSize - 1}`);
  }
  return t.subarray(0, n);
}

/** What an attack reports per sample besides the points it leaves in plan.input. */
export interface AttackOutcome {
  /** 1 where the returned point reaches the goal (misclassified, or classified as the target). */
  success: Uint8Array;
  /** The attack's loss at the returned point (its own loss: comparable within one attack only). */
  loss: Float32Array;
}

/** What a minimum-norm attack (C&W, DeepFool) reports per sample. */
export interface MinNormOutcome {
  /** 1 where the returned point reaches the goal. */
  success: Uint8Array;
  /** The perturbation's norm at the returned point (L2, or the attack's norm). */
  norm: Float32Array;
}

/** The attacker's goal for one sample: leave the label (untargeted) or reach the target. */
export function isSuccess(pred: number, label: number, target?: number): boolean {
  return target === undefined ? pred !== label : pred === target;
}

/** Success flags at the points in plan.input (runs the model). */
export function successAt(model: Model, plan: Plan, n: number, targets?: Int32Array): Uint8Array {
  model.forward(plan, n);
  const pred = model.predict(plan, n);
  const ok = new Uint8Array(n);
  for (let i = 0; i < n; i++) ok[i] = isSuccess(pred[i], plan.labels[i], targets?.[i]) ? 1 : 0;
  return ok;
}

/** The index of the largest z[o + j], j ≠ skip (the first on ties). */
export function argmaxExcept(z: ArrayLike<number>, o: number, classes: number, skip: number): number {
  let best = -1;
  for (let j = 0; j < classes; j++) if (j !== skip && (best < 0 || z[o + j] > z[o + best])) best = j;
  return best;
}

/** Indices of the four largest logits of a row, largest first (fewer when classes < 4). */
function top4(z: ArrayLike<number>, o: number, classes: number, out: Int32Array): void {
  out.fill(-1);
  const cap = Math.min(classes, 4);
  for (let j = 0; j < classes; j++) {
    const v = z[o + j];
    let pos = 0;
    while (pos < cap && out[pos] >= 0 && z[o + out[pos]] >= v) pos++;
    if (pos === cap) continue;
    for (let q = cap - 1; q > pos; q--) out[q] = out[q - 1];
    out[pos] = j;
  }
}

/**
 * The loss of each of n rows of logits z (n × classes) into out, and its gradient into dz
 * when given (overwritten). Untargeted (targets undefined), all to be maximised:
 *   ce      CE(z, y)
 *   margin  max_{j≠y} z_j − z_y                        (Carlini–Wagner)
 *   dlr     −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + δ)  (Croce & Hein; π sorts z descending)
 * Targeted to t:
 *   ce      −CE(z, t)
 *   margin  z_t − max_{j≠t} z_j
 *   dlr     −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + δ)
 * Float64 inside, so it also serves as the reference in tests.
 */
export function lossRows(
  z: ArrayLike<number>, labels: ArrayLike<number>, targets: ArrayLike<number> | undefined, n: number, classes: number,
  loss: AttackLoss, out: Float32Array | Float64Array, dz?: Float32Array | Float64Array,
): void {
  const top = new Int32Array(4);
  for (let r = 0; r < n; r++) {
    const o = r * classes;
    const y = labels[r];
    const t = targets ? targets[r] : -1;
    if (dz) dz.fill(0, o, o + classes);
    if (loss === "ce") {
      const c = t >= 0 ? t : y;
      const sign = t >= 0 ? -1 : 1;
      let m = z[o];
      for (let j = 1; j < classes; j++) m = Math.max(m, z[o + j]);
      let s = 0;
      for (let j = 0; j < classes; j++) s += Math.exp(z[o + j] - m);
      const lse = m + Math.log(s);
      out[r] = sign * (lse - z[o + c]);
      if (dz) for (let j = 0; j < classes; j++) dz[o + j] = sign * (Math.exp(z[o + j] - lse) - (j === c ? 1 : 0));
    } else if (loss === "margin") {
      // The class to push up (p) against the one to push down (q).
      const [p, q] = t >= 0 ? [t, argmaxExcept(z, o, classes, t)] : [argmaxExcept(z, o, classes, y), y];
      out[r] = z[o + p] - z[o + q];
      if (dz) {
        dz[o + p] += 1;
        dz[o + q] -= 1;
      }
    } else {
      top4(z, o, classes, top);
      const [p1, , p3, p4] = top;
      // L = −a/b: a is the gap to close, b makes the loss invariant to shifting and scaling z.
      const other = t >= 0 ? t : argmaxExcept(z, o, classes, y);
      const a = z[o + y] - z[o + other];
      const b = t >= 0 ? z[o + p1] - 0.5 * (z[o + p3] + z[o + p4]) + DLR_DELTA : z[o + p1] - z[o + p3] + DLR_DELTA;
      out[r] = -a / b;
      if (dz) {
        dz[o + y] -= 1 / b;
        dz[o + other] += 1 / b;
        const db = a / (b * b); // ∂L/∂b
        dz[o + p1] += db;
        if (t >= 0) {
          dz[o + p3] -= 0.5 * db;
          dz[o + p4] -= 0.5 * db;
        } else {
          dz[o + p3] -= db;
        }
      }
    }
  }
}

/**
 * The attack loss of the logits from the last forward pass into plan.losses, and with grad
 * its gradient (one per sample, not averaged) into plan.grads[last]. Untargeted CE runs the
 * WASM kernel, exactly as training does; the rest are n × classes work in JS.
 */
export function attackLoss(model: Model, plan: Plan, n: number, loss: AttackLoss, targets: Int32Array | undefined, grad: boolean): Float32Array {
  const last = model.layers.length;
  const classes = model.outputSize;
  if (loss === "ce" && !targets) {
    model.rt.k.softmaxCrossEntropy(plan.acts[last], plan.labelsPtr, n, classes, grad ? plan.grads[last] : 0, 1, plan.lossesPtr);
    return plan.losses;
  }
  const z = model.rt.f32(plan.acts[last], n * classes);
  const dz = grad ? model.rt.f32(plan.grads[last], n * classes) : undefined;
  lossRows(z, plan.labels, targets, n, classes, loss, plan.losses, dz);
  return plan.losses;
}

/** Forward at plan.input, the loss per sample into plan.losses, dL/dx into plan.grads[0]. */
export function lossAndInputGrad(model: Model, plan: Plan, n: number, loss: AttackLoss, targets: Int32Array | undefined): Float32Array {
  model.forward(plan, n);
  attackLoss(model, plan, n, loss, targets, true);
  model.backward(plan, n, { inputGrad: true, weightGrads: false });
  return plan.losses;
}
