// A model's layers as float64 operators for bound computation. Every operator works on one
// sample's flat CHW vector (Flatten is the identity on those and disappears). Affine operators
// know four things: their exact float64 affine map, interval propagation, the transposed map
// used by back-substitution, and |W|·v (for the float32 rounding allowance, bounds.ts).
import type { Model } from "../nn/model.js";
import type { Normalize } from "../nn/normalize.js";

export interface AffineOp {
  kind: "affine";
  name: string;
  inSize: number;
  outSize: number;
  /** Terms in each output's sum (products + the bias), for the rounding allowance. */
  fanIn: number;
  /** y = W x + b. */
  apply(x: Float64Array): Float64Array;
  /** Sound elementwise output box of an input box. */
  interval(lo: Float64Array, hi: Float64Array): [Float64Array, Float64Array];
  /** |W| v (no bias). */
  absApply(v: Float64Array): Float64Array;
  /** |b| per output. */
  absBias(): Float64Array;
  /** For `rows` row vectors A (rows × outSize): A·W (rows × inSize), and A·b per row added into c. */
  back(a: Float64Array, rows: number, c: Float64Array): Float64Array;
}

export interface ReluOp {
  kind: "relu";
  size: number;
}

export type Op = AffineOp | ReluOp;

export class DenseOp implements AffineOp {
  readonly kind = "affine" as const;
  readonly name = "dense";
  readonly fanIn: number;
  constructor(readonly inSize: number, readonly outSize: number, readonly w: Float64Array, readonly b: Float64Array) {
    this.fanIn = inSize + 1;
  }

  apply(x: Float64Array): Float64Array {
    const { inSize: n, outSize: m, w, b } = this;
    const y = new Float64Array(m);
    for (let o = 0; o < m; o++) {
      let s = b[o];
      const r = o * n;
      for (let i = 0; i < n; i++) s += w[r + i] * x[i];
      y[o] = s;
    }
    return y;
  }

  interval(lo: Float64Array, hi: Float64Array): [Float64Array, Float64Array] {
    const { inSize: n, outSize: m, w, b } = this;
    const ol = new Float64Array(m);
    const oh = new Float64Array(m);
    for (let o = 0; o < m; o++) {
      let sl = b[o];
      let sh = b[o];
      const r = o * n;
      for (let i = 0; i < n; i++) {
        const v = w[r + i];
        if (v >= 0) {
          sl += v * lo[i];
          sh += v * hi[i];
        } else {
          sl += v * hi[i];
          sh += v * lo[i];
        }
      }
      ol[o] = sl;
      oh[o] = sh;
    }
    return [ol, oh];
  }

  absApply(v: Float64Array): Float64Array {
    const { inSize: n, outSize: m, w } = this;
    const y = new Float64Array(m);
    for (let o = 0; o < m; o++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += Math.abs(w[o * n + i]) * v[i];
      y[o] = s;
    }
    return y;
  }

  absBias(): Float64Array {
    return this.b.map(Math.abs);
  }

  back(a: Float64Array, rows: number, c: Float64Array): Float64Array {
    const { inSize: n, outSize: m, w, b } = this;
    const out = new Float64Array(rows * n);
    for (let r = 0; r < rows; r++) {
      const ar = r * m;
      const orow = r * n;
      let cb = 0;
      for (let o = 0; o < m; o++) {
        const coef = a[ar + o];
        if (coef === 0) continue;
        cb += coef * b[o];
        const wr = o * n;
        for (let i = 0; i < n; i++) out[orow + i] += coef * w[wr + i];
      }
      c[r] += cb;
    }
    return out;
  }
}

/** NCHW convolution with zero padding; back() is the transposed convolution (no dense matrix). */
export class ConvOp implements AffineOp {
  readonly kind = "affine" as const;
  readonly name = "conv2d";
  readonly inSize: number;
  readonly outSize: number;
  readonly fanIn: number;
  readonly oh: number;
  readonly ow: number;
  constructor(
    readonly cin: number, readonly h: number, readonly wd: number, readonly cout: number,
    readonly k: number, readonly stride: number, readonly pad: number,
    readonly w: Float64Array, readonly b: Float64Array,
  ) {
    this.oh = Math.floor((h + 2 * pad - k) / stride) + 1;
    this.ow = Math.floor((wd + 2 * pad - k) / stride) + 1;
    this.inSize = cin * h * wd;
    this.outSize = cout * this.oh * this.ow;
    this.fanIn = cin * k * k + 1;
  }

  private taps?: { o: Int32Array; i: Int32Array; w: Float64Array };

  /** Every (output index, input index, weight) of the convolution, built once (padding skipped). */
  private table(): { o: Int32Array; i: Int32Array; w: Float64Array } {
    if (this.taps) return this.taps;
    const { cin, h, wd, cout, k, stride, pad, oh, ow, w } = this;
    const os: number[] = [];
    const is: number[] = [];
    const ws: number[] = [];
    for (let co = 0; co < cout; co++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const o = (co * oh + oy) * ow + ox;
          for (let ci = 0; ci < cin; ci++) {
            for (let ky = 0; ky < k; ky++) {
              const iy = oy * stride - pad + ky;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < k; kx++) {
                const ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= wd) continue;
                os.push(o);
                is.push((ci * h + iy) * wd + ix);
                ws.push(w[((co * cin + ci) * k + ky) * k + kx]);
              }
            }
          }
        }
      }
    }
    this.taps = { o: Int32Array.from(os), i: Int32Array.from(is), w: Float64Array.from(ws) };
    return this.taps;
  }

  /** out[orow + ·] += convᵀ(a[ar + ·]): the transposed convolution of one row, skipping zeros. */
  private transposed(a: Float64Array, ar: number, out: Float64Array, orow: number): void {
    const { cin, h, wd, cout, k, stride, pad, oh, ow, w } = this;
    for (let co = 0; co < cout; co++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const coef = a[ar + (co * oh + oy) * ow + ox];
          if (coef === 0) continue;
          for (let ci = 0; ci < cin; ci++) {
            const wb = (co * cin + ci) * k * k;
            for (let ky = 0; ky < k; ky++) {
              const iy = oy * stride - pad + ky;
              if (iy < 0 || iy >= h) continue;
              const ib = orow + (ci * h + iy) * wd;
              for (let kx = 0; kx < k; kx++) {
                const ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= wd) continue;
                out[ib + ix] += coef * w[wb + ky * k + kx];
              }
            }
          }
        }
      }
    }
  }

  private biasVec(): Float64Array {
    const plane = this.oh * this.ow;
    const y = new Float64Array(this.outSize);
    for (let co = 0; co < this.cout; co++) y.fill(this.b[co], co * plane, (co + 1) * plane);
    return y;
  }

  apply(x: Float64Array): Float64Array {
    const y = this.biasVec();
    const t = this.table();
    for (let n = 0; n < t.o.length; n++) y[t.o[n]] += t.w[n] * x[t.i[n]];
    return y;
  }

  interval(lo: Float64Array, hi: Float64Array): [Float64Array, Float64Array] {
    const ol = this.biasVec();
    const oh = this.biasVec();
    const t = this.table();
    for (let n = 0; n < t.o.length; n++) {
      const wt = t.w[n];
      const o = t.o[n];
      const i = t.i[n];
      if (wt >= 0) {
        ol[o] += wt * lo[i];
        oh[o] += wt * hi[i];
      } else {
        ol[o] += wt * hi[i];
        oh[o] += wt * lo[i];
      }
    }
    return [ol, oh];
  }

  absApply(v: Float64Array): Float64Array {
    const y = new Float64Array(this.outSize);
    const t = this.table();
    for (let n = 0; n < t.o.length; n++) y[t.o[n]] += Math.abs(t.w[n]) * v[t.i[n]];
    return y;
  }

  absBias(): Float64Array {
    return this.biasVec().map(Math.abs);
  }

  back(a: Float64Array, rows: number, c: Float64Array): Float64Array {
    const { inSize, outSize } = this;
    const bias = this.biasVec();
    const out = new Float64Array(rows * inSize);
    for (let r = 0; r < rows; r++) {
      const ar = r * outSize;
      const orow = r * inSize;
      let cb = 0;
      for (let o = 0; o < outSize; o++) cb += a[ar + o] * bias[o];
      c[r] += cb;
      this.transposed(a, ar, out, orow);
    }
    return out;
  }
}

/** Average pooling, no padding: a linear map with non-negative weights 1/K². */
export class AvgPoolOp implements AffineOp {
  readonly kind = "affine" as const;
  readonly name = "avgpool2d";
  readonly inSize: number;
  readonly outSize: number;
  readonly fanIn: number;
  readonly oh: number;
  readonly ow: number;
  constructor(readonly c: number, readonly h: number, readonly wd: number, readonly k: number, readonly stride: number) {
    this.oh = Math.floor((h - k) / stride) + 1;
    this.ow = Math.floor((wd - k) / stride) + 1;
    this.inSize = c * h * wd;
    this.outSize = c * this.oh * this.ow;
    // K² products/sums, the multiply by the rounded 1/K², and that constant's own rounding.
    this.fanIn = k * k + 2;
  }

  private each(f: (o: number, i: number) => void): void {
    const { c, h, wd, k, stride, oh, ow } = this;
    for (let p = 0; p < c; p++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const o = (p * oh + oy) * ow + ox;
          for (let ky = 0; ky < k; ky++) {
            for (let kx = 0; kx < k; kx++) f(o, (p * h + oy * stride + ky) * wd + ox * stride + kx);
          }
        }
      }
    }
  }

  apply(x: Float64Array): Float64Array {
    const y = new Float64Array(this.outSize);
    const s = 1 / (this.k * this.k);
    this.each((o, i) => (y[o] += s * x[i]));
    return y;
  }

  interval(lo: Float64Array, hi: Float64Array): [Float64Array, Float64Array] {
    return [this.apply(lo), this.apply(hi)];
  }

  absApply(v: Float64Array): Float64Array {
    return this.apply(v);
  }

  absBias(): Float64Array {
    return new Float64Array(this.outSize);
  }

  back(a: Float64Array, rows: number): Float64Array {
    const { inSize, outSize } = this;
    const s = 1 / (this.k * this.k);
    const out = new Float64Array(rows * inSize);
    for (let r = 0; r < rows; r++) {
      const ar = r * outSize;
      const orow = r * inSize;
      this.each((o, i) => (out[orow + i] += s * a[ar + o]));
    }
    return out;
  }
}

/**
 * Per-channel normalisation y = (x − mean[c]) / std[c]: a diagonal affine map with scale
 * 1/std[c] and shift −mean[c]/std[c]. The layer computes each output in float64 and rounds
 * once (src/nn/normalize.ts), an error ≤ u·|y| ≤ γ_2·(|x|/|std| + |mean/std|): fanIn 2 covers it.
 */
export class NormalizeOp implements AffineOp {
  readonly kind = "affine" as const;
  readonly name = "normalize";
  readonly inSize: number;
  readonly outSize: number;
  readonly fanIn = 2;
  /** Per-element scale and shift. */
  readonly scale: Float64Array;
  readonly shift: Float64Array;
  constructor(mean: Float64Array, std: Float64Array, plane: number) {
    const n = mean.length * plane;
    this.inSize = n;
    this.outSize = n;
    this.scale = new Float64Array(n);
    this.shift = new Float64Array(n);
    for (let c = 0; c < mean.length; c++) {
      this.scale.fill(1 / std[c], c * plane, (c + 1) * plane);
      this.shift.fill(-mean[c] / std[c], c * plane, (c + 1) * plane);
    }
  }

  apply(x: Float64Array): Float64Array {
    return x.map((v, i) => this.scale[i] * v + this.shift[i]);
  }

  interval(lo: Float64Array, hi: Float64Array): [Float64Array, Float64Array] {
    const ol = new Float64Array(this.outSize);
    const oh = new Float64Array(this.outSize);
    for (let i = 0; i < ol.length; i++) {
      const s = this.scale[i];
      const a = s * lo[i] + this.shift[i];
      const b = s * hi[i] + this.shift[i];
      ol[i] = s >= 0 ? a : b;
      oh[i] = s >= 0 ? b : a;
    }
    return [ol, oh];
  }

  absApply(v: Float64Array): Float64Array {
    return v.map((x, i) => Math.abs(this.scale[i]) * x);
  }

  absBias(): Float64Array {
    return this.shift.map(Math.abs);
  }

  back(a: Float64Array, rows: number, c: Float64Array): Float64Array {
    const n = this.inSize;
    const out = new Float64Array(rows * n);
    for (let r = 0; r < rows; r++) {
      let cb = 0;
      for (let i = 0, k = r * n; i < n; i++, k++) {
        out[k] = a[k] * this.scale[i];
        cb += a[k] * this.shift[i];
      }
      c[r] += cb;
    }
    return out;
  }
}

/** The model's layers as float64 operators (weights copied exactly from float32). */
export function networkOps(model: Model): Op[] {
  const ops: Op[] = [];
  model.layers.forEach((l, idx) => {
    const spec = l.spec;
    const p = () => Float64Array.from(model.layerParams(idx));
    switch (spec.type) {
      case "flatten":
        break;
      case "relu":
        ops.push({ kind: "relu", size: l.inShape.reduce((a, b) => a * b, 1) });
        break;
      case "dense": {
        const all = p();
        const nw = spec.in * spec.out;
        ops.push(new DenseOp(spec.in, spec.out, all.subarray(0, nw), all.subarray(nw)));
        break;
      }
      case "conv2d": {
        const [c, h, w] = l.inShape;
        const all = p();
        const nw = spec.outChannels * c * spec.kernel * spec.kernel;
        ops.push(new ConvOp(c, h, w, spec.outChannels, spec.kernel, spec.stride, spec.padding, all.subarray(0, nw), all.subarray(nw)));
        break;
      }
      case "avgpool2d": {
        const [c, h, w] = l.inShape;
        ops.push(new AvgPoolOp(c, h, w, spec.kernel, spec.stride));
        break;
      }
      case "normalize": {
        const { mean, std } = l as Normalize;
        const size = l.inShape.reduce((a, b) => a * b, 1);
        ops.push(new NormalizeOp(mean, std, size / mean.length));
        break;
      }
      default:
        throw new Error(`certification does not support layer type '${(spec as { type: string }).type}'`);
    }
  });
  return ops;
}

/**
 * The margin specification folded into the network: rows j of the result are z_y − z_j
 * (row y is identically 0 and is ignored). When the last operator is Dense its rows are
 * combined directly (tighter IBP than subtracting logit intervals); otherwise C is appended.
 */
export function specOp(last: Op | undefined, classes: number, label: number): DenseOp {
  if (last instanceof DenseOp) {
    const n = last.inSize;
    const w = new Float64Array(classes * n);
    const b = new Float64Array(classes);
    for (let j = 0; j < classes; j++) {
      if (j === label) continue;
      for (let i = 0; i < n; i++) w[j * n + i] = last.w[label * n + i] - last.w[j * n + i];
      b[j] = last.b[label] - last.b[j];
    }
    return new DenseOp(n, classes, w, b);
  }
  const w = new Float64Array(classes * classes);
  for (let j = 0; j < classes; j++) {
    if (j === label) continue;
    w[j * classes + label] = 1;
    w[j * classes + j] = -1;
  }
  return new DenseOp(classes, classes, w, new Float64Array(classes));
}
