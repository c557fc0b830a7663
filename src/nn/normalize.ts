// Input normalisation y = (x − mean[c]) / std[c], one constant pair per channel (the first
// axis of the layer's input: C of [C,H,W], or each feature of a flat vector), or one pair for
// everything. The constants live in the spec, not in the parameter buffer, so the layer has
// no parameters and training leaves it alone; backward is the scaling dx = dy / std[c].
// The arithmetic is float64 per element, rounded once to float32 when stored, so
// |ỹ − y| ≤ u·|y| (the certification's rounding allowance relies on this, network.ts).
import { sizeOf, type Ctx, type Layer, type LayerSpec, type Shape } from "./layer.js";
import { ParamFreeLayer } from "./param-free.js";

/** mean and std: one value for all inputs, or one per channel; std nonzero (negative flips the sign). */
export type NormalizeSpec = Extract<LayerSpec, { type: "normalize" }>;

/** The constants expanded to one per channel, after checking them (one-line errors). */
export function normalizeConstants(spec: NormalizeSpec, inShape: Shape, where = "normalize"): { mean: Float64Array; std: Float64Array } {
  const channels = inShape[0];
  const expand = (v: unknown, what: string, nonzero: boolean): Float64Array => {
    if (!Array.isArray(v) || (v.length !== 1 && v.length !== channels)) {
      throw new Error(`${where}: ${what} must be a list of 1 or ${channels} numbers (one per channel of [${inShape.join(",")}]), got ${Array.isArray(v) ? `${v.length} values` : JSON.stringify(v)}`);
    }
    const out = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      const x = v.length === 1 ? v[0] : v[c];
      if (typeof x !== "number" || !Number.isFinite(x) || (nonzero && x === 0)) {
        throw new Error(`${where}: ${what}[${v.length === 1 ? 0 : c}] must be a finite${nonzero ? ", nonzero" : ""} number, got ${typeof x === "number" ? String(x) : JSON.stringify(x)}`);
      }
      out[c] = x;
    }
    return out;
  };
  return { mean: expand(spec.mean, "mean", false), std: expand(spec.std, "std", true) };
}

export class Normalize extends ParamFreeLayer implements Layer {
  readonly spec: NormalizeSpec;
  readonly outShape: Shape;
  /** Per-channel constants (length inShape[0]). */
  readonly mean: Float64Array;
  readonly std: Float64Array;
  private readonly plane: number;
  private readonly size: number;

  constructor(readonly inShape: Shape, spec: NormalizeSpec, where?: string) {
    super();
    const { mean, std } = normalizeConstants(spec, inShape, where);
    this.mean = mean;
    this.std = std;
    this.spec = { type: "normalize", mean: [...spec.mean], std: [...spec.std] };
    this.outShape = [...inShape];
    this.size = sizeOf(inShape);
    this.plane = this.size / inShape[0];
  }

  forward(ctx: Ctx, x: number, y: number, batch: number): void {
    const xs = ctx.rt.f32(x, batch * this.size);
    const ys = ctx.rt.f32(y, batch * this.size);
    const { mean, std, plane } = this;
    for (let n = 0, o = 0; n < batch; n++) {
      for (let c = 0; c < mean.length; c++) {
        const m = mean[c];
        const s = std[c];
        for (const end = o + plane; o < end; o++) ys[o] = (xs[o] - m) / s;
      }
    }
  }

  backward(ctx: Ctx, _x: number, _y: number, dy: number, dx: number, batch: number): void {
    if (dx === 0) return;
    const gy = ctx.rt.f32(dy, batch * this.size);
    const gx = ctx.rt.f32(dx, batch * this.size);
    const { std, plane } = this;
    for (let n = 0, o = 0; n < batch; n++) {
      for (let c = 0; c < std.length; c++) {
        const s = std[c];
        for (const end = o + plane; o < end; o++) gx[o] = gy[o] / s;
      }
    }
  }
}
