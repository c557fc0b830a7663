// Certification: soundness of IBP / CROWN / CROWN-IBP margin bounds (random points, box corners,
// brute force on a tiny net, PGD), agreement of CROWN with a plain float64 reference written
// here, the float32 rounding allowance, and the verdict's rules.
import test from "ava";
import { loadData } from "../src/data/index.js";
import { Model } from "../src/nn/model.js";
import type { LayerSpec } from "../src/nn/layer.js";
import { Stream } from "../src/core/random.js";
import { train } from "../src/train/loop.js";
import { createOptimizer } from "../src/train/optimizer.js";
import { attack } from "../src/attack/api.js";
import { BOUND_METHODS, inputBox, marginBounds, roundingAllowance, sampleBounds, type BoundOptions } from "../src/certify/bounds.js";
import { networkOps } from "../src/certify/network.js";
import { certify, logitMargins } from "../src/certify/verdict.js";
import { samplePoints } from "./helpers/box.js";
import { conv, dense, flatten, net, pool, relu, SMALL_NETS, type NetSpec } from "./helpers/nets.js";



const SMALL: NetSpec[] = [
  ...SMALL_NETS,
  {
    name: "cnn pool-first, relu-ending conv", shape: [1, 5, 5],
    layers: [pool(2, 1), conv(1, 3, 2, 1, 0), relu, flatten, dense(27, 5), relu, dense(5, 4)],
  },
];

/** Checks margins at `count` points of the box around x against the bounds; returns the smallest gap. */
function checkPoints(t: { fail(msg: string): void }, m: Model, x: Float32Array, label: number, lower: Float64Array, o: BoundOptions, count: number, rng: Stream): number {
  const [lo, hi] = inputBox(x, o.eps, o.clip === undefined ? { lo: 0, hi: 1 } : o.clip);
  // The box from inputBox is widened by an ulp; sample the un-widened ball (what the attack sees).
  const pts = samplePoints(lo, hi, count, rng);
  const margins = logitMargins(m, pts, new Array(count).fill(label));
  let gap = Infinity;
  for (const mg of margins) {
    for (let j = 0; j < mg.length; j++) {
      if (j === label) continue;
      const g = mg[j] - lower[j];
      if (g < 0) t.fail(`${o.method}: margin ${j} = ${mg[j]} below its lower bound ${lower[j]}`);
      gap = Math.min(gap, g);
    }
  }
  return gap;
}

for (const spec of SMALL) {
  test(`bounds are sound on random points and corners: ${spec.name}`, (t) => {
    const rng = new Stream(7, 1);
    let checked = 0;
    for (let seed = 1; seed <= 4; seed++) {
      const m = net(spec.shape, spec.layers, seed, 1.5);
      const ops = networkOps(m);
      for (const eps of [0.02, 0.1, 0.3]) {
        for (const clip of [{ lo: 0, hi: 1 }, null]) {
          const x = Float32Array.from({ length: m.inputSize }, () => rng.next());
          const label = seed % m.outputSize;
          for (const method of BOUND_METHODS) {
            for (const pure of [false, true]) {
              const o: BoundOptions = { method, eps, clip, pure };
              const b = sampleBounds(m, ops, x, label, o);
              checkPoints(t, m, x, label, b.lower, o, 300, rng);
              checked += 300;
            }
          }
        }
      }
    }
    t.true(checked >= 10_000);
  });
}

test("IBP of a single affine layer is attained at a box corner (the sampling check can fail)", (t) => {
  const m = net([1, 1, 4], [flatten, dense(4, 3)], 3);
  const x = Float32Array.from([0.5, 0.4, 0.6, 0.5]);
  const o: BoundOptions = { method: "ibp", eps: 0.1, rounding: "none" };
  const b = sampleBounds(m, networkOps(m), x, 0, o);
  // All 16 corners: the minimum margin equals the bound (exact for one affine layer).
  const [lo, hi] = inputBox(x, 0.1, { lo: 0, hi: 1 });
  const pts = new Float32Array(16 * 4);
  for (let c = 0; c < 16; c++) for (let i = 0; i < 4; i++) pts[c * 4 + i] = Math.fround((c >> i) & 1 ? hi[i] : lo[i]);
  const mg = logitMargins(m, pts, new Array(16).fill(0));
  for (const j of [1, 2]) {
    const worst = Math.min(...mg.map((r) => r[j]));
    t.true(Math.abs(worst - b.lower[j]) < 1e-5, `margin ${j}: corner minimum ${worst} vs bound ${b.lower[j]}`);
  }
  // A bound moved up by 1e-3 would be caught by checkPoints.
  const shifted = b.lower.map((v) => v + 1e-3);
  let failed = false;
  checkPoints({ fail: () => (failed = true) }, m, x, 0, shifted, o, 300, new Stream(1, 2));
  t.true(failed);
});

// ---------------------------------------------------------------------------------------
// A plain float64 reference of IBP / CROWN over dense matrices (convolutions and pooling turned
// into matrices here, independently of src/certify).

type RefOp = { type: "affine"; w: number[][]; b: number[] } | { type: "relu" };

function refOps(m: Model): RefOp[] {
  const out: RefOp[] = [];
  m.layers.forEach((l, idx) => {
    const s = l.spec;
    const p = Array.from(m.layerParams(idx));
    if (s.type === "relu") out.push({ type: "relu" });
    else if (s.type === "dense") {
      const w = Array.from({ length: s.out }, (_, o) => p.slice(o * s.in, (o + 1) * s.in));
      out.push({ type: "affine", w, b: p.slice(s.in * s.out) });
    } else if (s.type === "conv2d") {
      const [c, h, wd] = l.inShape;
      const [co, oh, ow] = l.outShape;
      const k = s.kernel;
      const w = Array.from({ length: co * oh * ow }, () => new Array<number>(c * h * wd).fill(0));
      const b: number[] = [];
      for (let o = 0; o < co; o++) {
        for (let y = 0; y < oh; y++) {
          for (let xx = 0; xx < ow; xx++) {
            const row = w[(o * oh + y) * ow + xx];
            b.push(p[co * c * k * k + o]);
            for (let i = 0; i < c; i++) {
              for (let dy = 0; dy < k; dy++) {
                for (let dx = 0; dx < k; dx++) {
                  const iy = y * s.stride - s.padding + dy;
                  const ix = xx * s.stride - s.padding + dx;
                  if (iy >= 0 && iy < h && ix >= 0 && ix < wd) row[(i * h + iy) * wd + ix] += p[((o * c + i) * k + dy) * k + dx];
                }
              }
            }
          }
        }
      }
      out.push({ type: "affine", w, b });
    } else if (s.type === "avgpool2d") {
      const [c, h, wd] = l.inShape;
      const [, oh, ow] = l.outShape;
      const w = Array.from({ length: c * oh * ow }, () => new Array<number>(c * h * wd).fill(0));
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < oh; y++) {
          for (let xx = 0; xx < ow; xx++) {
            for (let dy = 0; dy < s.kernel; dy++) {
              for (let dx = 0; dx < s.kernel; dx++) {
                w[(ch * oh + y) * ow + xx][(ch * h + y * s.stride + dy) * wd + xx * s.stride + dx] = 1 / (s.kernel * s.kernel);
              }
            }
          }
        }
      }
      out.push({ type: "affine", w, b: new Array(c * oh * ow).fill(0) });
    }
  });
  return out;
}

function refForward(ops: RefOp[], x: number[]): number[] {
  let v = x;
  for (const op of ops) {
    if (op.type === "relu") v = v.map((z) => Math.max(0, z));
    else v = op.w.map((row, o) => row.reduce((s, wv, i) => s + wv * v[i], op.b[o]));
  }
  return v;
}

/**
 * Lower bound of A·(output of ops[0..end)) + c over the box: substitute each layer backwards.
 * relus[i] = [l, u] of the ReLU at ops[i].
 */
function refLower(ops: RefOp[], end: number, a: number[][], c: number[], relus: [number[], number[]][], lo: number[], hi: number[]): number[] {
  let A = a.map((r) => [...r]);
  const C = [...c];
  for (let i = end - 1; i >= 0; i--) {
    const op = ops[i];
    if (op.type === "affine") {
      A.forEach((row, r) => (C[r] += row.reduce((s, v, o) => s + v * op.b[o], 0)));
      const n = op.w[0].length;
      A = A.map((row) => {
        const nr = new Array<number>(n).fill(0);
        row.forEach((v, o) => op.w[o].forEach((wv, j) => (nr[j] += v * wv)));
        return nr;
      });
    } else {
      const [l, u] = relus[i];
      A = A.map((row, r) => row.map((v, k) => {
        if (l[k] >= 0) return v;
        if (u[k] <= 0) return 0;
        const slope = u[k] / (u[k] - l[k]);
        if (v >= 0) return u[k] > -l[k] ? v : 0;
        C[r] += v * -slope * l[k];
        return v * slope;
      }));
    }
  }
  return A.map((row, r) => row.reduce((s, v, k) => s + (v >= 0 ? v * lo[k] : v * hi[k]), C[r]));
}

function refBounds(ops: RefOp[], lo: number[], hi: number[], label: number, method: "crown" | "crown-ibp" | "ibp"): number[] {
  const relus: [number[], number[]][] = [];
  let l = lo;
  let u = hi;
  for (let i = 0; i < ops.length - 1; i++) {
    const op = ops[i];
    if (op.type === "relu") {
      relus[i] = [l, u];
      l = l.map((v) => Math.max(0, v));
      u = u.map((v) => Math.max(0, v));
      continue;
    }
    if (method === "crown" && ops[i + 1].type === "relu") {
      const n = op.w.length;
      const eye = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, k) => (k === r ? 1 : 0)));
      const neg = eye.map((r) => r.map((v) => -v));
      l = refLower(ops, i + 1, eye, new Array(n).fill(0), relus, lo, hi);
      u = refLower(ops, i + 1, neg, new Array(n).fill(0), relus, lo, hi).map((v) => -v);
    } else {
      const pl = l;
      const pu = u;
      l = op.w.map((row, o) => row.reduce((s, v, k) => s + (v >= 0 ? v * pl[k] : v * pu[k]), op.b[o]));
      u = op.w.map((row, o) => row.reduce((s, v, k) => s + (v >= 0 ? v * pu[k] : v * pl[k]), op.b[o]));
    }
  }
  const last = ops[ops.length - 1] as { type: "affine"; w: number[][]; b: number[] };
  const classes = last.w.length;
  // C = e_y − e_j, applied after the last layer (the library folds it in: same value).
  const spec: RefOp[] = [...ops, { type: "affine", w: Array.from({ length: classes }, (_, j) => Array.from({ length: classes }, (_, k) => (k === label ? 1 : 0) - (k === j ? 1 : 0))), b: new Array(classes).fill(0) }];
  if (method === "ibp") {
    const W = last.w;
    // fold C into the last layer for IBP, as the library does
    return W.map((_, j) => {
      if (j === label) return Infinity;
      const row = W[label].map((v, k) => v - W[j][k]);
      return row.reduce((s, v, k) => s + (v >= 0 ? v * l[k] : v * u[k]), last.b[label] - last.b[j]);
    });
  }
  const a = Array.from({ length: classes }, (_, j) => Array.from({ length: classes }, (_, k) => (k === j ? 1 : 0)));
  const r = refLower(spec, spec.length, a, new Array(classes).fill(0), relus, lo, hi);
  r[label] = Infinity;
  return r;
}

for (const spec of SMALL) {
  test(`CROWN, CROWN-IBP and IBP agree with the float64 reference: ${spec.name}`, (t) => {
    const rng = new Stream(11, 2);
    let worst = 0;
    let compared = 0;
    for (let seed = 1; seed <= 3; seed++) {
      const m = net(spec.shape, spec.layers, seed, 1.5);
      const ops = networkOps(m);
      const ref = refOps(m);
      for (const eps of [0.05, 0.2]) {
        const x = Float32Array.from({ length: m.inputSize }, () => rng.next());
        const label = seed % m.outputSize;
        const [lo, hi] = inputBox(x, eps, { lo: 0, hi: 1 });
        // The reference knows these three; dual and α-CROWN have their own (certify-alpha.test.ts).
        for (const method of ["ibp", "crown", "crown-ibp"] as const) {
          const mine = sampleBounds(m, ops, x, label, { method, eps, pure: true, rounding: "none" }).lower;
          const theirs = refBounds(ref, Array.from(lo), Array.from(hi), label, method);
          for (let j = 0; j < theirs.length; j++) {
            if (j === label) continue;
            const rel = Math.abs(mine[j] - theirs[j]) / Math.max(1, Math.abs(theirs[j]));
            worst = Math.max(worst, rel);
            compared++;
          }
        }
      }
    }
    t.true(compared > 0);
    t.true(worst < 1e-5, `worst relative difference ${worst}`);
  });
}

test("float32 rounding allowance covers the kernels' float32 error (and is small)", (t) => {
  const rng = new Stream(5, 3);
  for (const spec of SMALL) {
    const m = net(spec.shape, spec.layers, 9, 2);
    const ops = networkOps(m);
    const ref = refOps(m);
    for (let trial = 0; trial < 5; trial++) {
      const x = Float32Array.from({ length: m.inputSize }, () => rng.next());
      const eps = 0.2;
      const [lo, hi] = inputBox(x, eps, { lo: 0, hi: 1 });
      // Boxes as sampleBounds would give them (IBP, unrefined): inputs of each operator.
      const boxes: [Float64Array, Float64Array][] = [[lo, hi]];
      for (const op of ops) {
        const [l, u] = boxes[boxes.length - 1];
        boxes.push(op.kind === "relu" ? [l.map((v) => Math.max(0, v)), u.map((v) => Math.max(0, v))] : op.interval(l, u));
      }
      const e = roundingAllowance(ops, boxes.slice(0, ops.length));
      const pts = samplePoints(lo, hi, 200, rng);
      const plan = m.plan(200);
      plan.input.set(pts);
      m.forward(plan, 200);
      for (let s = 0; s < 200; s++) {
        const exact = refForward(ref, Array.from(pts.subarray(s * m.inputSize, (s + 1) * m.inputSize)));
        for (let j = 0; j < exact.length; j++) {
          const err = Math.abs(plan.logits[s * exact.length + j] - exact[j]);
          if (err > e[j]) t.fail(`${spec.name}: logit ${j} float32 error ${err} > allowance ${e[j]}`);
        }
      }
      for (const v of e) t.true(v < 1e-3, `allowance ${v} is too loose`);
    }
  }
  t.pass();
});

test("brute force on a 2-3-3-2 net: the worst margin over a grid is ≥ every bound", (t) => {
  for (let seed = 1; seed <= 6; seed++) {
    const m = net([1, 1, 2], [flatten, dense(2, 3), relu, dense(3, 3), relu, dense(3, 2)], seed, 2);
    const ops = networkOps(m);
    const ref = refOps(m);
    const x = Float32Array.from([0.4, 0.55]);
    for (const eps of [0.05, 0.2, 0.4]) {
      const [lo, hi] = inputBox(x, eps, { lo: 0, hi: 1 });
      let worst = Infinity;
      const G = 300;
      for (let a = 0; a <= G; a++) {
        for (let b = 0; b <= G; b++) {
          const z = refForward(ref, [lo[0] + (a / G) * (hi[0] - lo[0]), lo[1] + (b / G) * (hi[1] - lo[1])]);
          worst = Math.min(worst, z[0] - z[1]);
        }
      }
      const found: Record<string, number> = {};
      for (const method of BOUND_METHODS) {
        for (const pure of [false, true]) {
          const lb = sampleBounds(m, ops, x, 0, { method, eps, pure }).lower[1];
          t.true(lb <= worst, `seed ${seed} ε ${eps} ${method}${pure ? " pure" : ""}: bound ${lb} > grid minimum ${worst}`);
          found[method + pure] = lb;
        }
      }
      // Default (intersected) CROWN is never looser than IBP, per margin.
      t.true(found["crownfalse"] >= found["ibpfalse"]);
      t.true(found["crown-ibpfalse"] >= found["ibpfalse"]);
    }
  }
});

test("pure CROWN is tighter than IBP on average on random nets", (t) => {
  const rng = new Stream(3, 4);
  let sumIbp = 0;
  let sumCrown = 0;
  let sumCi = 0;
  for (const spec of SMALL) {
    for (let seed = 1; seed <= 4; seed++) {
      const m = net(spec.shape, spec.layers, seed, 1.5);
      const ops = networkOps(m);
      const x = Float32Array.from({ length: m.inputSize }, () => rng.next());
      const o = { eps: 0.1, pure: true };
      const ibp = sampleBounds(m, ops, x, 0, { ...o, method: "ibp" }).lower;
      const crown = sampleBounds(m, ops, x, 0, { ...o, method: "crown" }).lower;
      const ci = sampleBounds(m, ops, x, 0, { ...o, method: "crown-ibp" }).lower;
      for (let j = 1; j < ibp.length; j++) {
        sumIbp += ibp[j];
        sumCrown += crown[j];
        sumCi += ci[j];
      }
    }
  }
  t.true(sumCrown > sumIbp, `CROWN ${sumCrown} vs IBP ${sumIbp}`);
  t.true(sumCi > sumIbp, `CROWN-IBP ${sumCi} vs IBP ${sumIbp}`);
  t.true(sumCrown >= sumCi, `CROWN ${sumCrown} vs CROWN-IBP ${sumCi}`);
});

// ---------------------------------------------------------------------------------------
// Trained nets.

const data = loadData("mnist", { limit: 2000, testLimit: 40 });
const trained = new Map<string, Promise<Model>>();
const TRAINED: Record<string, LayerSpec[]> = {
  mlp: [flatten, dense(784, 64), relu, dense(64, 64), relu, dense(64, 10)],
  cnn: [conv(1, 4, 4, 2, 1), relu, conv(4, 8, 4, 2, 1), relu, flatten, dense(392, 32), relu, dense(32, 10)],
};

// The promise is cached so concurrent tests share one training run.
function trainedNet(name: string): Promise<Model> {
  let m = trained.get(name);
  if (!m) {
    m = (async () => {
      const net1 = net([1, 28, 28], TRAINED[name], 1);
      const opt = createOptimizer(net1, { name: "adam", lr: 2e-3 });
      await train(net1, data.train, opt, { epochs: 1, batchSize: 64, seed: 1, lr: 2e-3, schedule: { name: "constant" } });
      return net1;
    })();
    trained.set(name, m);
  }
  return m;
}

for (const name of Object.keys(TRAINED)) {
  test(`trained ${name}: bounds sound at sampled points and at PGD's points; verdicts consistent`, async (t) => {
    const m = await trainedNet(name);
    const n = 12;
    const x = data.test.x.subarray(0, n * 784);
    const y = Array.from(data.test.y.subarray(0, n));
    const rng = new Stream(9, 5);
    for (const eps of [0.01, 0.05]) {
      for (const method of BOUND_METHODS) {
        const o: BoundOptions = { method, eps };
        const bounds = marginBounds(m, x, y, o);
        for (let s = 0; s < n; s++) checkPoints(t, m, x.subarray(s * 784, (s + 1) * 784), y[s], bounds[s].lower, o, 150, rng);
        // PGD (margin loss) on every sample, broken or not: never below a bound.
        const adv = attack(m, x, y, { eps, steps: 30, loss: "margin", seed: 2 });
        const mg = logitMargins(m, adv.adversarial, y);
        for (let s = 0; s < n; s++) {
          for (let j = 0; j < 10; j++) {
            if (j !== y[s] && mg[s][j] < bounds[s].lower[j]) t.fail(`${method} ε ${eps} sample ${s}: PGD margin ${mg[s][j]} < bound ${bounds[s].lower[j]}`);
          }
          if (bounds[s].lowest > 0) t.false(adv.outcomes[s].success === 1, `sample ${s} certified but PGD succeeded`);
        }
      }
    }
    t.pass();
  });
}

test("verdicts: falsified iff PGD succeeds (with a negative counterexample margin), certified only when every bound > 0", async (t) => {
  const m = await trainedNet("mlp");
  const n = 40;
  const x = data.test.x.subarray(0, n * 784);
  const y = Array.from(data.test.y.subarray(0, n));
  for (const [eps, method] of [[0.01, "crown"], [0.02, "ibp"], [0.2, "crown-ibp"]] as const) {
    const r = await certify(m, x, y, { method, eps, steps: 20 });
    t.is(r.counts.certified + r.counts.falsified + r.counts.unknown, n);
    const adv = attack(m, x, y, { eps, steps: 20, loss: "margin", seed: 0 });
    for (const s of r.samples) {
      if (s.verdict === "falsified") t.true(s.counterexampleMargin <= 0);
      if (s.verdict === "certified") {
        t.true(s.lowestBound > 0);
        t.true(s.cleanCorrect);
        t.is(adv.outcomes[s.index].success, 0);
      }
      if (adv.outcomes[s.index].success) t.is(s.verdict, "falsified");
    }
    t.true(r.certifiedAccuracy <= r.cleanAccuracy);
    if (eps === 0.01) t.true(r.counts.certified > 0, "a trained net certifies some samples at ε = 0.01");
    if (eps === 0.2) t.true(r.counts.falsified > 0, "PGD breaks some samples at ε = 0.2");
  }
});

test("lp, milp and auto verdicts: sound, never looser than CROWN, auto says which stage decided", async (t) => {
  const m = await trainedNet("mlp");
  const n = 8;
  const x = data.test.x.subarray(0, n * 784);
  const y = Array.from(data.test.y.subarray(0, n));
  const eps = 0.03;
  const crown = await certify(m, x, y, { method: "crown", eps, steps: 20 });
  const byMethod: Record<string, Awaited<ReturnType<typeof certify>>> = {};
  for (const method of ["lp", "milp", "auto"] as const) {
    const r = await certify(m, x, y, { method, eps, steps: 20, timeLimit: 20 });
    byMethod[method] = r;
    t.is(r.counts.certified + r.counts.falsified + r.counts.unknown, n);
    for (const s of r.samples) {
      const c = crown.samples[s.index];
      // The attack runs first with the same keys: its falsifications are shared.
      if (c.decidedBy === "attack") t.is(s.decidedBy, "attack");
      if (c.verdict === "certified") t.is(s.verdict, "certified", `${method} lost CROWN's certificate of sample ${s.index}`);
      if (s.verdict === "certified") t.true(s.lowestBound > 0);
      if (s.verdict === "falsified") t.true(s.counterexampleMargin < 0);
    }
  }
  // MILP is exact: with a generous time limit nothing stays unknown on this small net.
  t.is(byMethod.milp.counts.unknown, 0);
  t.deepEqual(byMethod.auto.counts, byMethod.milp.counts);
  for (const s of byMethod.auto.samples) {
    if (s.verdict === "certified") t.true(["ibp", "crown", "alpha-crown", "milp"].includes(s.decidedBy));
  }
  // The MILP is exact with CROWN's big-M constants too (the default tightens them by LPs).
  const plain = await certify(m, x, y, { method: "milp", eps, steps: 20, timeLimit: 20, tighten: "none" });
  t.deepEqual(plain.counts, byMethod.milp.counts);
});

test("bad input: negative ε, unknown method, wrong sizes are one-line errors", (t) => {
  const m = net([1, 1, 2], [flatten, dense(2, 2)], 1);
  const x = Float32Array.from([0.5, 0.5]);
  t.throws(() => marginBounds(m, x, [0], { method: "ibp", eps: -1 }), { message: /ε/ });
  t.throws(() => marginBounds(m, x, [0], { method: "nope" as "ibp", eps: 0.1 }), { message: /unknown bound method/ });
  t.throws(() => marginBounds(m, x, [0, 1], { method: "ibp", eps: 0.1 }), { message: /samples/ });
  t.throws(() => marginBounds(m, x, [5], { method: "ibp", eps: 0.1 }), { message: /label/ });
});

test("certify command: JSON summary, per-sample CSV, --no-clip", async (t) => {
  const { Command } = await import("commander");
  const { registerCertify } = await import("../src/cli/certify.js");
  const { saveModel } = await import("../src/io/bwk.js");
  const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "bulwark-certify-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const m = await trainedNet("mlp");
  const file = join(dir, "m.bwk");
  saveModel(file, { architecture: m.arch, params: Float32Array.from(m.params.f32) });
  const run = async (args: string[]): Promise<Record<string, any>> => {
    const program = new Command("bulwark").option("--json").exitOverride();
    registerCertify(program);
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => (lines.push(s), true)) as typeof process.stdout.write;
    try {
      await program.parseAsync(["node", "bulwark", "certify", ...args]);
    } finally {
      process.stdout.write = write;
    }
    t.is(lines.length, 1);
    return JSON.parse(lines[0]);
  };
  const csv = join(dir, "s.csv");
  const r = await run(["--model", file, "--eps", "0.02", "--method", "crown", "--limit", "20", "--steps", "10", "--per-sample", csv, "--json", "--workers", "0"]);
  t.is(r.method, "crown");
  t.is(r.eps, 0.02);
  t.is(r.counts.certified + r.counts.falsified + r.counts.unknown, 20);
  t.is(r.certifiedAccuracy, r.counts.certified / 20);
  t.true(r.cleanAccuracy >= r.certifiedAccuracy);
  t.true(r.samplesPerSecond > 0 && r.seconds > 0);
  const rows = readFileSync(csv, "utf8").trim().split("\n");
  t.is(rows[0], "index,label,verdict,lowestBound,counterexampleMargin,decidedBy");
  t.is(rows.length, 21);
  for (const row of rows.slice(1)) {
    const [, , verdict, bound, cx] = row.split(",");
    if (verdict === "certified") t.true(Number(bound) > 0);
    if (verdict === "falsified") t.true(cx !== "" && Number(cx) <= 0);
  }
  const unclipped = await run(["--model", file, "--eps", "0.02", "--method", "ibp", "--limit", "20", "--steps", "10", "--no-clip", "--json", "--workers", "0"]);
  t.is(unclipped.clip, false);
  // Clipping only shrinks the box: never fewer certified with it.
  const clipped = await run(["--model", file, "--eps", "0.02", "--method", "ibp", "--limit", "20", "--steps", "10", "--json", "--workers", "0"]);
  t.true(clipped.counts.certified >= unclipped.counts.certified);
  // Two workers: the same file, byte for byte.
  const csv2 = join(dir, "s2.csv");
  const pooled = await run(["--model", file, "--eps", "0.02", "--method", "crown", "--limit", "20", "--steps", "10", "--per-sample", csv2, "--json", "--workers", "2"]);
  t.is(pooled.workers, 2);
  t.is(pooled.shardSize, 50);
  t.is(readFileSync(csv2, "utf8"), readFileSync(csv, "utf8"));
  // Another shard size: batches of another size round differently in the last float32 digits,
  // but the verdicts are the same row for row here.
  const csv3 = join(dir, "s3.csv");
  const small = await run(["--model", file, "--eps", "0.02", "--method", "crown", "--limit", "20", "--steps", "10", "--per-sample", csv3, "--json", "--workers", "2", "--shard-size", "3"]);
  t.is(small.shardSize, 3);
  t.deepEqual(small.counts, r.counts);
  const verdicts = (f: string) => readFileSync(f, "utf8").trim().split("\n").map((row) => row.split(",").slice(0, 3).join(","));
  t.deepEqual(verdicts(csv3), verdicts(csv));
});
