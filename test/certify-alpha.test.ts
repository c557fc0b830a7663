// The Wong–Kolter dual network bound ("dual") and α-CROWN: soundness at random points, box
// corners and PGD's points (float32 rounding allowance included), α-CROWN never looser than
// CROWN and strictly tighter on a trained net, the analytic slope gradient against finite
// differences, and the dual against a plain float64 reference written here.
import test from "ava";
import { loadData } from "../src/data/index.js";
import { Model } from "../src/nn/model.js";
import { Stream } from "../src/core/random.js";
import { attack } from "../src/attack/api.js";
import { backSubstitute, foldSpec, inputBox, marginBounds, propagate, sampleBounds, type BoundOptions } from "../src/certify/bounds.js";
import { initialSlopes, slopeBound } from "../src/certify/alpha-crown.js";
import { networkOps } from "../src/certify/network.js";
import { certify, logitMargins } from "../src/certify/verdict.js";
import { trainedMlp } from "./helpers/trained.js";
import { samplePoints } from "./helpers/box.js";
import { dense, net, SMALL_NETS } from "./helpers/nets.js";



const SMALL = SMALL_NETS;

/** Fails when the float32 network's margin at any of `count` box points is below its bound. */
function checkPoints(t: { fail(msg: string): void }, m: Model, x: Float32Array, label: number, lower: Float64Array, o: BoundOptions, count: number, rng: Stream): void {
  const [lo, hi] = inputBox(x, o.eps, o.clip === undefined ? { lo: 0, hi: 1 } : o.clip);
  const pts = samplePoints(lo, hi, count, rng);
  for (const mg of logitMargins(m, pts, new Array(count).fill(label))) {
    for (let j = 0; j < mg.length; j++) {
      if (j !== label && mg[j] < lower[j]) t.fail(`${o.method}: margin ${j} = ${mg[j]} below its lower bound ${lower[j]}`);
    }
  }
}

/** Every corner of the box (small inputs only), rounded into the box in float32. */
function checkCorners(t: { fail(msg: string): void }, m: Model, x: Float32Array, label: number, lower: Float64Array, o: BoundOptions): void {
  const [lo, hi] = inputBox(x, o.eps, o.clip === undefined ? { lo: 0, hi: 1 } : o.clip);
  const d = lo.length;
  const count = 2 ** d;
  const pts = new Float32Array(count * d);
  for (let c = 0; c < count; c++) {
    for (let i = 0; i < d; i++) {
      const up = (c >> i) & 1;
      let v = Math.fround(up ? hi[i] : lo[i]);
      if (v > hi[i] || v < lo[i]) v = Math.fround(up ? hi[i] - Math.abs(hi[i]) * 2 ** -22 - 1e-30 : lo[i] + Math.abs(lo[i]) * 2 ** -22 + 1e-30);
      pts[c * d + i] = v;
    }
  }
  for (const mg of logitMargins(m, pts, new Array(count).fill(label))) {
    for (let j = 0; j < mg.length; j++) {
      if (j !== label && mg[j] < lower[j]) t.fail(`${o.method}: margin ${j} = ${mg[j]} at a corner, below its lower bound ${lower[j]}`);
    }
  }
}

for (const spec of SMALL) {
  test(`dual and α-CROWN are sound on random points and (all) corners; α-CROWN ≥ CROWN: ${spec.name}`, (t) => {
    const rng = new Stream(17, 1);
    let margins = 0;
    let tighter = 0;
    let crownOverDual = 0;
    for (let seed = 1; seed <= 3; seed++) {
      const m = net(spec.shape, spec.layers, seed, 1.5);
      const ops = networkOps(m);
      for (const eps of [0.02, 0.1, 0.3]) {
        for (const clip of [{ lo: 0, hi: 1 }, null]) {
          const x = Float32Array.from({ length: m.inputSize }, () => rng.next());
          const label = seed % m.outputSize;
          for (const pure of [false, true]) {
            const crown = sampleBounds(m, ops, x, label, { method: "crown", eps, clip, pure }).lower;
            const variants: BoundOptions[] = [
              { method: "dual", eps, clip, pure },
              { method: "alpha-crown", eps, clip, pure },
              { method: "alpha-crown", eps, clip, pure, alphaIntermediate: true, alphaIterations: 10 },
            ];
            const found = variants.map((o) => {
              const b = sampleBounds(m, ops, x, label, o).lower;
              checkPoints(t, m, x, label, b, o, 150, rng);
              if (m.inputSize <= 8) checkCorners(t, m, x, label, b, o);
              return b;
            });
            const [dual, alpha, alphaMid] = found;
            for (let j = 0; j < crown.length; j++) {
              if (j === label) continue;
              margins++;
              if (alpha[j] < crown[j]) t.fail(`α-CROWN ${alpha[j]} looser than CROWN ${crown[j]} (seed ${seed} ε ${eps})`);
              if (alphaMid[j] < crown[j]) t.fail(`α-CROWN (intermediate) ${alphaMid[j]} looser than CROWN ${crown[j]}`);
              if (alpha[j] > crown[j] + 1e-9) tighter++;
              if (crown[j] >= dual[j]) crownOverDual++;
            }
          }
        }
      }
    }
    t.log(`${margins} margins: α-CROWN strictly tighter than CROWN on ${tighter}; CROWN ≥ dual on ${crownOverDual}`);
    t.true(margins > 0);
  });
}

test("α-CROWN's analytic slope gradient matches central finite differences", (t) => {
  const rng = new Stream(23, 2);
  let compared = 0;
  let worst = 0;
  for (const spec of SMALL) {
    const m = net(spec.shape, spec.layers, 4, 1.5);
    const classes = m.outputSize;
    const x = Float32Array.from({ length: m.inputSize }, () => rng.next());
    const [lo, hi] = inputBox(x, 0.3, null);
    const folded = foldSpec(networkOps(m), classes, 0);
    const { relaxes } = propagate(folded, lo, hi, { method: "crown" });
    const n = folded.length;
    const rows = classes - 1;
    const a = new Float64Array(rows * classes);
    for (let r = 0; r < rows; r++) a[r * classes + r + 1] = 1;
    const slopes = initialSlopes(folded, n, rows, relaxes);
    // With CROWN's slopes the bound is CROWN's.
    const start = slopeBound(folded, n, a, rows, relaxes, slopes, lo, hi, false).bound;
    const crown = backSubstitute(folded, n, a.slice(), rows, relaxes, lo, hi);
    for (let r = 0; r < rows; r++) t.true(Math.abs(start[r] - crown[r]) <= 1e-12 * (1 + Math.abs(crown[r])));
    // Random interior slopes (away from the kinks of the piecewise-linear bound, almost surely).
    for (const al of slopes.alpha) if (al) for (let q = 0; q < al.length; q++) al[q] = 0.05 + 0.9 * rng.next();
    const { grad } = slopeBound(folded, n, a, rows, relaxes, slopes, lo, hi, true);
    const h = 1e-6;
    slopes.alpha.forEach((al, i) => {
      if (!al) return;
      const cnt = slopes.count[i];
      for (let q = 0; q < al.length; q++) {
        const row = Math.floor(q / cnt);
        const v = al[q];
        al[q] = v + h;
        const up = slopeBound(folded, n, a, rows, relaxes, slopes, lo, hi, false).bound[row];
        al[q] = v - h;
        const down = slopeBound(folded, n, a, rows, relaxes, slopes, lo, hi, false).bound[row];
        al[q] = v;
        const fd = (up - down) / (2 * h);
        const g = grad![i]![q];
        worst = Math.max(worst, Math.abs(fd - g) / (1 + Math.abs(g)));
        compared++;
      }
    });
  }
  t.true(compared > 50, `only ${compared} free slopes`);
  t.true(worst < 1e-6, `worst relative gradient error ${worst}`);
});

test("α-CROWN with 0 iterations is CROWN; bad α options are one-line errors", (t) => {
  const m = net([1, 1, 5], SMALL[1].layers, 2, 1.5);
  const x = Float32Array.from([0.2, 0.7, 0.4, 0.9, 0.1]);
  const ops = networkOps(m);
  for (const pure of [false, true]) {
    const crown = sampleBounds(m, ops, x, 1, { method: "crown", eps: 0.2, pure }).lower;
    const zero = sampleBounds(m, ops, x, 1, { method: "alpha-crown", eps: 0.2, pure, alphaIterations: 0 }).lower;
    t.deepEqual(Array.from(zero), Array.from(crown));
  }
  t.throws(() => marginBounds(m, x, [0], { method: "alpha-crown", eps: 0.1, alphaIterations: -1 }), { message: /iterations/ });
  t.throws(() => marginBounds(m, x, [0], { method: "alpha-crown", eps: 0.1, alphaIterations: 2.5 }), { message: /iterations/ });
  t.throws(() => marginBounds(m, x, [0], { method: "alpha-crown", eps: 0.1, alphaStep: 0 }), { message: /step/ });
  t.throws(() => marginBounds(m, x, [0], { method: "alpha-crown", eps: 0.1, alphaStep: NaN }), { message: /step/ });
});

// ---------------------------------------------------------------------------------------
// A plain float64 reference of the Wong–Kolter dual network for dense nets: every
// pre-activation bounded by back-substitution with the chord slope u/(u−l) for both lines.

function refDual(m: Model, lo: number[], hi: number[], label: number): number[] {
  const layers: { w: number[][]; b: number[] }[] = [];
  m.layers.forEach((l, idx) => {
    if (l.spec.type !== "dense") return;
    const s = l.spec;
    const p = Array.from(m.layerParams(idx));
    layers.push({ w: Array.from({ length: s.out }, (_, o) => p.slice(o * s.in, (o + 1) * s.in)), b: p.slice(s.in * s.out) });
  });
  // Bounds of rows A over the pre-activations of layer `upto` (layers[0..upto], ReLU between).
  const bounds: [number[], number[]][] = [];
  const lower = (a: number[][], upto: number): number[] => {
    let A = a.map((r) => [...r]);
    const C = new Array<number>(a.length).fill(0);
    for (let i = upto; i >= 0; i--) {
      const { w, b } = layers[i];
      A.forEach((row, r) => (C[r] += row.reduce((s, v, o) => s + v * b[o], 0)));
      A = A.map((row) => w[0].map((_, j) => row.reduce((s, v, o) => s + v * w[o][j], 0)));
      if (i === 0) break;
      const [l, u] = bounds[i - 1];
      A = A.map((row, r) => row.map((v, k) => {
        if (l[k] >= 0) return v;
        if (u[k] <= 0) return 0;
        const d = u[k] / (u[k] - l[k]);
        if (v < 0) C[r] += v * -d * l[k];
        return v * d;
      }));
    }
    return A.map((row, r) => row.reduce((s, v, k) => s + (v >= 0 ? v * lo[k] : v * hi[k]), C[r]));
  };
  for (let i = 0; i < layers.length - 1; i++) {
    const n = layers[i].w.length;
    const eye = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, k) => (k === r ? 1 : 0)));
    bounds.push([lower(eye, i), lower(eye.map((r) => r.map((v) => -v)), i).map((v) => -v)]);
  }
  const last = layers[layers.length - 1];
  const classes = last.w.length;
  // The margin rows e_y − e_j folded into the last layer.
  layers[layers.length - 1] = {
    w: last.w.map((row, j) => row.map((v, k) => last.w[label][k] - v)),
    b: last.b.map((v, j) => last.b[label] - v),
  };
  const eye = Array.from({ length: classes }, (_, r) => Array.from({ length: classes }, (_, k) => (k === r ? 1 : 0)));
  const out = lower(eye, layers.length - 1);
  out[label] = Infinity;
  return out;
}

test("dual agrees with the float64 Wong–Kolter reference (dense nets)", (t) => {
  const rng = new Stream(29, 3);
  let worst = 0;
  let compared = 0;
  for (const spec of SMALL.slice(0, 2)) {
    for (let seed = 1; seed <= 3; seed++) {
      const m = net(spec.shape, spec.layers, seed, 1.5);
      const ops = networkOps(m);
      for (const eps of [0.05, 0.2]) {
        const x = Float32Array.from({ length: m.inputSize }, () => rng.next());
        const label = seed % m.outputSize;
        const [lo, hi] = inputBox(x, eps, { lo: 0, hi: 1 });
        const mine = sampleBounds(m, ops, x, label, { method: "dual", eps, pure: true, rounding: "none" }).lower;
        const theirs = refDual(m, Array.from(lo), Array.from(hi), label);
        for (let j = 0; j < theirs.length; j++) {
          if (j === label) continue;
          worst = Math.max(worst, Math.abs(mine[j] - theirs[j]) / Math.max(1, Math.abs(theirs[j])));
          compared++;
        }
      }
    }
  }
  t.true(compared > 0);
  t.true(worst < 1e-9, `worst relative difference ${worst}`);
});

// ---------------------------------------------------------------------------------------
// The trained MLP fixture (784-256-256-10, one epoch on 2000 images).

const data = loadData("mnist", { limit: 2000, testLimit: 40 });
// Serial: trainedMlp hands out its model before training finishes, so concurrent tests could
// see the weights change under them.

test.serial("trained mlp: dual and α-CROWN sound at sampled and PGD points; α-CROWN strictly tighter than CROWN somewhere", async (t) => {
  const m = await trainedMlp(data.train);
  const n = 6;
  const x = data.test.x.subarray(0, n * 784);
  const y = Array.from(data.test.y.subarray(0, n));
  const rng = new Stream(31, 4);
  let tighter = 0;
  let gain = 0;
  let crownOverDual = 0;
  let margins = 0;
  for (const eps of [0.005, 0.02]) {
    const crown = marginBounds(m, x, y, { method: "crown", eps });
    const adv = attack(m, x, y, { eps, steps: 30, loss: "margin", seed: 2 });
    const mg = logitMargins(m, adv.adversarial, y);
    const all: Record<string, ReturnType<typeof marginBounds>> = {};
    for (const method of ["dual", "alpha-crown"] as const) {
      const o: BoundOptions = { method, eps };
      const bounds = marginBounds(m, x, y, o);
      all[method] = bounds;
      for (let s = 0; s < n; s++) {
        checkPoints(t, m, x.subarray(s * 784, (s + 1) * 784), y[s], bounds[s].lower, o, 60, rng);
        for (let j = 0; j < 10; j++) {
          if (j !== y[s] && mg[s][j] < bounds[s].lower[j]) t.fail(`${method} ε ${eps} sample ${s}: PGD margin ${mg[s][j]} < bound ${bounds[s].lower[j]}`);
        }
        if (bounds[s].lowest > 0) t.false(adv.outcomes[s].success === 1, `sample ${s} certified but PGD succeeded`);
      }
    }
    for (let s = 0; s < n; s++) {
      for (let j = 0; j < 10; j++) {
        if (j === y[s]) continue;
        margins++;
        const c = crown[s].lower[j];
        const a = all["alpha-crown"][s].lower[j];
        if (a < c) t.fail(`ε ${eps} sample ${s} margin ${j}: α-CROWN ${a} looser than CROWN ${c}`);
        if (a > c + 1e-6) tighter++;
        gain = Math.max(gain, a - c);
        if (c >= all.dual[s].lower[j]) crownOverDual++;
      }
    }
  }
  t.log(`${margins} margins: α-CROWN strictly tighter on ${tighter} (largest gain ${gain.toFixed(4)}); CROWN ≥ dual on ${crownOverDual}`);
  t.true(tighter > 0, "α-CROWN never improved on CROWN");
});

test.serial("certify with dual and α-CROWN on the trained mlp: verdicts consistent, α-CROWN certifies at least CROWN's", async (t) => {
  const m = await trainedMlp(data.train);
  const n = 12;
  const x = data.test.x.subarray(0, n * 784);
  const y = Array.from(data.test.y.subarray(0, n));
  const eps = 0.01;
  // certify() throws if an attack point inside the box violates a bound, or a certified sample is broken.
  const r: Record<string, Awaited<ReturnType<typeof certify>>> = {};
  for (const method of ["crown", "dual", "alpha-crown"] as const) r[method] = await certify(m, x, y, { method, eps, steps: 20 });
  for (const s of r["alpha-crown"].samples) {
    const c = r.crown.samples[s.index];
    if (c.verdict === "certified") t.is(s.verdict, "certified");
    if (s.verdict !== "falsified") t.true(s.lowestBound >= c.lowestBound, `sample ${s.index}: α-CROWN ${s.verdict} ${s.lowestBound}, CROWN ${c.verdict} ${c.lowestBound}`);
  }
  t.log(`ε ${eps}, ${n} samples certified: crown ${r.crown.counts.certified}, dual ${r.dual.counts.certified}, alpha-crown ${r["alpha-crown"].counts.certified}`);
  t.true(r["alpha-crown"].counts.certified > 0);
});
