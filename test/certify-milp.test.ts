// LP (triangle relaxation) and MILP (big-M, exact) margin bounds: the MILP minimum equals a
// brute-force reference (one LP per activation pattern of the unstable neurons, over x only)
// and a dense grid on 2-D inputs, with and without LP-tightened intermediate bounds;
// IBP ≤ CROWN ≤ LP ≤ MILP; tightened boxes hold every sampled pre-activation and are never
// looser than CROWN's; float32 points of the ball respect every bound; a time-limited MILP
// never over-claims; conv/pool nets agree with their dense equivalents; early stop,
// counterexamples and bad input.
import test from "ava";
import { Model } from "../src/nn/model.js";
import type { LayerSpec } from "../src/nn/layer.js";
import { Stream } from "../src/core/random.js";
import { foldSpec, inputBox, propagate, sampleBounds } from "../src/certify/bounds.js";
import { DenseOp, networkOps, type Op } from "../src/certify/network.js";
import { loadHighs, weakDualBound, ProgramBuilder } from "../src/certify/highs.js";
import { lpMarginBounds, marginProblem } from "../src/certify/lp.js";
import { milpMarginBounds } from "../src/certify/milp.js";
import { newTightenStats } from "../src/certify/tighten.js";
import { samplePoints } from "./helpers/box.js";
import { dense, flatten, net, relu } from "./helpers/nets.js";
import { linearRegions } from "./helpers/regions.js";



function randomInput(n: number, seed: number): Float32Array {
  const r = new Stream(seed, 7);
  return Float32Array.from({ length: n }, () => Math.fround(0.2 + 0.6 * r.next()));
}


/**
 * The exact minimum of each margin over the box by enumeration: IBP fixes the stable
 * neurons; for each on/off pattern of the unstable ones the network is affine on the region
 * where the pattern holds, and one LP over x alone finds its minimum there.
 */
async function bruteForce(ops: Op[], classes: number, x: Float32Array, label: number, eps: number): Promise<{ min: Float64Array; unstable: number }> {
  const h = await loadHighs();
  const [lo0, hi0] = inputBox(x, eps, { lo: 0, hi: 1 });
  const n0 = x.length;
  const { unstable, regions } = linearRegions(foldSpec(ops, classes, label), lo0, hi0);
  const min = new Float64Array(classes).fill(Infinity);
  for (const { rows, out: v } of regions) {
    const inf = h.infinity;
    const m = h.createModel({
      numCols: n0, numRows: rows.length, colCost: new Float64Array(n0), colLower: lo0, colUpper: hi0,
      rowLower: rows.map((r) => (r.lo === -Infinity ? -inf : r.lo)), rowUpper: rows.map((r) => (r.hi === Infinity ? inf : r.hi)),
      matrix: {
        format: "csr", numRows: rows.length, numCols: n0,
        starts: rows.map((_, i) => i * n0).concat(rows.length * n0),
        indices: rows.flatMap(() => Array.from({ length: n0 }, (_, t) => t)),
        values: rows.flatMap((r) => Array.from(r.a.subarray(0, n0))),
      },
    });
    try {
      m.options.set({ output_flag: false });
      for (let j = 0; j < classes; j++) {
        if (j === label) continue;
        m.changeColsCost({ kind: "range", from: 0, to: n0 - 1 }, v[j].subarray(0, n0));
        const status = m.run().modelStatus;
        if (status === h.constants.modelStatus.infeasible) break;
        if (status !== h.constants.modelStatus.optimal) throw new Error(`reference LP ended with status ${status}`);
        min[j] = Math.min(min[j], m.getObjectiveValue() + v[j][n0]);
      }
    } finally {
      m.dispose();
    }
  }
  return { min, unstable };
}

/** Float32 points of the ball around x: corners, near-corners and uniform draws. */
function ballPoints(x: Float32Array, eps: number, count: number, seed: number): Float32Array {
  const r = new Stream(seed, 11);
  const d = x.length;
  const out = new Float32Array(count * d);
  for (let s = 0; s < count; s++) {
    for (let i = 0; i < d; i++) {
      const lo = Math.max(0, Math.fround(x[i] - eps));
      const hi = Math.min(1, Math.fround(x[i] + eps));
      const t = s % 3 === 0 ? (r.next() < 0.5 ? 0 : 1) : s % 3 === 1 ? (r.next() < 0.5 ? 0.02 * r.next() : 1 - 0.02 * r.next()) : r.next();
      out[s * d + i] = Math.min(hi, Math.max(lo, Math.fround(lo + t * (hi - lo))));
    }
  }
  return out;
}

/**
 * Margins z_y − z_j of the float32 network at each point. (verdict.ts logitMargins frees its
 * plan with arena.release while the model keeps it cached, so a model created later can get
 * parameters over that plan; this test file holds several models, so its plans stay allocated.)
 */
function margins32(m: Model, pts: Float32Array, label: number): Float64Array[] {
  const n = pts.length / m.inputSize;
  const cap = 256;
  const plan = m.plan(cap);
  const out: Float64Array[] = [];
  for (let s = 0; s < n; s += cap) {
    const k = Math.min(cap, n - s);
    plan.input.set(pts.subarray(s * m.inputSize, (s + k) * m.inputSize));
    m.forward(plan, k);
    for (let i = 0; i < k; i++) {
      const z = plan.logits.subarray(i * m.outputSize, (i + 1) * m.outputSize);
      out.push(Float64Array.from(z, (v) => z[label] - v));
    }
  }
  return out;
}

/** The smallest margin z_y − z_j of the float32 network over the points, per class. */
function pointMinima(m: Model, pts: Float32Array, label: number): Float64Array {
  const out = new Float64Array(m.outputSize).fill(Infinity);
  for (const mg of margins32(m, pts, label)) for (let j = 0; j < mg.length; j++) out[j] = Math.min(out[j], mg[j]);
  return out;
}

test("weak duality: the dual bound of a solved LP equals its optimum, and any y gives a lower bound", async (t) => {
  const h = await loadHighs();
  // min x + y: x + 2y ≥ 2, x − y = 0.5, 0 ≤ x, y ≤ 10 → x = 1, y = 0.5, value 1.5.
  const b = new ProgramBuilder();
  b.addCol(0, 10);
  b.addCol(0, 10);
  b.addRow([0, 1], [1, 2], 2, Infinity);
  b.addRow([0, 1], [1, -1], 0.5, 0.5);
  const p = b.build();
  const m = h.createModel({
    numCols: 2, numRows: 2, colCost: [1, 1], colLower: p.colLower, colUpper: p.colUpper,
    rowLower: p.rowLower, rowUpper: [h.infinity, 0.5],
    matrix: { format: "csr", numRows: 2, numCols: 2, starts: p.starts, indices: p.indices, values: p.values },
  });
  m.options.set({ output_flag: false });
  m.run();
  const y = m.getSolution().rowDual;
  m.dispose();
  t.true(Math.abs(weakDualBound(p, [1, 1], y) - 1.5) < 1e-12);
  for (const yy of [[0, 0], [1, 0], [-3, 2], [0.2, 5]]) t.true(weakDualBound(p, [1, 1], yy) <= 1.5 + 1e-12);
});

const EXACT_NETS: { name: string; shape: [number, number, number]; layers: LayerSpec[]; seed: number }[] = [
  { name: "2-5-5-3", shape: [1, 1, 2], layers: [flatten, dense(2, 5), relu, dense(5, 5), relu, dense(5, 3)], seed: 3 },
  { name: "3-8-8-4", shape: [1, 1, 3], layers: [flatten, dense(3, 8), relu, dense(8, 8), relu, dense(8, 4)], seed: 5 },
];

for (const spec of EXACT_NETS) {
  test(`MILP = brute force on ${spec.name}; IBP ≤ CROWN ≤ LP ≤ MILP; float32 points respect the bounds`, async (t) => {
    const m = net(spec.shape, spec.layers, spec.seed);
    const ops = networkOps(m);
    const classes = m.outputSize;
    let checked = 0;
    for (let s = 0; s < 4; s++) {
      const x = randomInput(m.inputSize, 100 * spec.seed + s);
      const label = s % classes;
      // The largest ε whose IBP-unstable count keeps the enumeration small (≤ 2^10 LPs).
      let eps = 0;
      let ref: { min: Float64Array; unstable: number } | undefined;
      for (const e of [0.3, 0.2, 0.12, 0.08, 0.05]) {
        const r = await bruteForce(ops, classes, x, label, e);
        if (r.unstable <= 10) {
          eps = e;
          ref = r;
          break;
        }
      }
      if (!ref || ref.unstable < 2) continue;
      checked++;
      t.log(`sample ${s}: ε=${eps}, ${ref.unstable} IBP-unstable neurons`);
      const exact = { eps, rounding: "none" as const };
      const ibp = sampleBounds(m, ops, x, label, { ...exact, method: "ibp" }).lower;
      const crown = sampleBounds(m, ops, x, label, { ...exact, method: "crown" }).lower;
      const lp = await lpMarginBounds(m, x, label, exact);
      const milp = await milpMarginBounds(m, x, label, { ...exact, decide: false });
      const plain = await milpMarginBounds(m, x, label, { ...exact, decide: false, tighten: "none" });
      t.true(milp.unstable! <= plain.unstable!, `tightening left ${milp.unstable} binaries of ${plain.unstable}`);
      for (let j = 0; j < classes; j++) {
        if (j === label) {
          t.is(lp.status[j], "skipped");
          continue;
        }
        const v = ref.min[j];
        const at = `${spec.name} sample ${s} ε=${eps} margin ${j}`;
        t.is(lp.status[j], "optimal", at);
        t.is(milp.status[j], "optimal", at);
        t.true(ibp[j] <= crown[j] + 1e-9, `${at}: IBP ${ibp[j]} > CROWN ${crown[j]}`);
        t.true(crown[j] <= lp.lower[j] + 1e-6, `${at}: CROWN ${crown[j]} > LP ${lp.lower[j]}`);
        t.true(lp.lower[j] <= milp.lower[j] + 1e-6, `${at}: LP ${lp.lower[j]} > MILP ${milp.lower[j]}`);
        // The MILP's proven bound is the minimum up to the solver-tolerance allowance, and its
        // incumbent is a real point attaining the minimum (up to rounding the point to float32).
        t.true(milp.lower[j] <= v + 1e-7, `${at}: MILP lower ${milp.lower[j]} above the true minimum ${v}`);
        t.true(milp.lower[j] >= v - 2e-4, `${at}: MILP lower ${milp.lower[j]} far below the true minimum ${v}`);
        t.true(milp.upper[j] >= v - 1e-7 && milp.upper[j] <= v + 1e-5, `${at}: MILP incumbent ${milp.upper[j]} vs minimum ${v}`);
        // Without tightening (CROWN's big-M constants) the optimum is the same.
        t.is(plain.status[j], "optimal", at);
        t.true(plain.lower[j] <= v + 1e-7 && plain.lower[j] >= v - 2e-4, `${at}: untightened MILP lower ${plain.lower[j]} vs ${v}`);
      }
      // With the float32 allowance, every float32 point of the ball respects both bounds.
      const lp32 = await lpMarginBounds(m, x, label, { eps });
      const milp32 = await milpMarginBounds(m, x, label, { eps, decide: false });
      const pts = pointMinima(m, ballPoints(x, eps, 300, s), label);
      for (let j = 0; j < classes; j++) {
        if (j === label) continue;
        t.true(lp32.lower[j] <= lp.lower[j] && milp32.lower[j] <= milp.lower[j]);
        t.true(pts[j] >= milp32.lower[j], `margin ${j}: a float32 point reaches ${pts[j]} < MILP bound ${milp32.lower[j]}`);
        t.true(pts[j] >= lp32.lower[j], `margin ${j}: a float32 point reaches ${pts[j]} < LP bound ${lp32.lower[j]}`);
      }
      if (m.inputSize === 2) {
        // Dense grid over the (clipped) ball: no value below the bound, none below the minimum.
        const [lo, hi] = inputBox(x, eps, { lo: 0, hi: 1 });
        const g = 120;
        const grid = new Float32Array(2 * (g + 1) ** 2);
        let q = 0;
        for (let a = 0; a <= g; a++) {
          for (let b = 0; b <= g; b++) {
            grid[q++] = Math.min(hi[0], Math.max(lo[0], Math.fround(lo[0] + ((hi[0] - lo[0]) * a) / g)));
            grid[q++] = Math.min(hi[1], Math.max(lo[1], Math.fround(lo[1] + ((hi[1] - lo[1]) * b) / g)));
          }
        }
        const gm = pointMinima(m, grid, label);
        for (let j = 0; j < classes; j++) {
          if (j === label) continue;
          t.true(gm[j] >= milp32.lower[j], `grid margin ${j}: ${gm[j]} < MILP bound ${milp32.lower[j]}`);
          t.true(gm[j] >= ref.min[j] - 1e-5 && gm[j] <= ref.min[j] + 0.05, `grid minimum ${gm[j]} vs exact ${ref.min[j]}`);
        }
      }
    }
    t.true(checked >= 2, `only ${checked} samples had unstable neurons to enumerate`);
  });
}

/** The input of every operator at x (float64), as the boxes index them: out[i] enters folded[i]. */
function activations(folded: Op[], x: ArrayLike<number>): Float64Array[] {
  const out: Float64Array[] = [Float64Array.from(x)];
  for (const op of folded) {
    const v = out[out.length - 1];
    out.push(op.kind === "relu" ? v.map((t) => Math.max(0, t)) : op.apply(v));
  }
  return out;
}

test("LP-tightened boxes hold every sampled pre-activation, are never looser than CROWN's, and stabilise neurons", async (t) => {
  const h = await loadHighs();
  const nets: [string, [number, number, number], LayerSpec[], number][] = [
    ["3-10-10-10-3", [1, 1, 3], [flatten, dense(3, 10), relu, dense(10, 10), relu, dense(10, 10), relu, dense(10, 3)], 2],
    ["8-16-16-4", [1, 1, 8], [flatten, dense(8, 16), relu, dense(16, 16), relu, dense(16, 4)], 6],
  ];
  let tighter = 0;
  let stabilised = 0;
  let lps = 0;
  for (const [name, shape, layers, seed] of nets) {
    const m = net(shape, layers, seed);
    for (const eps of [0.15, 0.3, 0.5]) {
      const x = randomInput(m.inputSize, seed + 17);
      const label = 0;
      const stats = newTightenStats();
      const o = { eps, rounding: "none" as const };
      const p = marginProblem(m, x, label, { ...o, tighten: "lp" }, false, { h, tightenStats: stats });
      const base = marginProblem(m, x, label, o, false);
      const crown = propagate(p.folded, p.lo0, p.hi0, { method: "crown" }).boxes;
      t.true(p.unstable <= base.unstable, `${name} ε=${eps}: ${p.unstable} > ${base.unstable} unstable`);
      stabilised += base.unstable - p.unstable;
      for (let i = 0; i < crown.length; i++) {
        for (let k = 0; k < crown[i][0].length; k++) {
          const [l, u] = [p.boxes[i][0][k], p.boxes[i][1][k]];
          t.true(l >= crown[i][0][k] && u <= crown[i][1][k], `${name} ε=${eps} box ${i}.${k}: [${l}, ${u}] looser than CROWN's`);
          if (l > crown[i][0][k] + 1e-9 || u < crown[i][1][k] - 1e-9) tighter++;
        }
      }
      const pts = samplePoints(p.lo0, p.hi0, 600, new Stream(seed, 5));
      for (let s = 0; s < 600; s++) {
        const acts = activations(p.folded, pts.subarray(s * m.inputSize, (s + 1) * m.inputSize));
        for (let i = 0; i < acts.length; i++) {
          for (let k = 0; k < acts[i].length; k++) {
            const v = acts[i][k];
            if (v < p.boxes[i][0][k] - 1e-9 || v > p.boxes[i][1][k] + 1e-9) {
              t.fail(`${name} ε=${eps}: sample ${s} gives ${v} outside the tightened box [${p.boxes[i][0][k]}, ${p.boxes[i][1][k]}] at ${i}.${k}`);
            }
          }
        }
      }
      t.false(stats.cutShort);
      lps += stats.lps;
    }
  }
  t.true(tighter > 0 && stabilised > 0, `tighter ${tighter}, stabilised ${stabilised}`);
  t.log(`${lps} LPs: ${tighter} bounds tightened, ${stabilised} neurons stabilised`);
});

test("a time-limited MILP reports 'limit' with a bound no higher than any point's margin", async (t) => {
  const m = net([1, 1, 20], [flatten, dense(20, 60), relu, dense(60, 60), relu, dense(60, 60), relu, dense(60, 5)], 9);
  const x = randomInput(20, 9);
  const label = 0;
  const eps = 0.15;
  const cut = await milpMarginBounds(m, x, label, { eps, decide: false, timeLimit: 0.05 });
  const ibp = sampleBounds(m, networkOps(m), x, label, { method: "ibp", eps }).lower;
  const pts = pointMinima(m, ballPoints(x, eps, 300, 1), label);
  t.true(cut.status.some((s) => s === "limit"), `statuses ${cut.status.join(",")}`);
  for (let j = 1; j < 5; j++) {
    t.true(cut.lower[j] <= pts[j], `margin ${j}: bound ${cut.lower[j]} above a point's margin ${pts[j]}`);
    t.true(cut.lower[j] <= cut.upper[j]);
    // Even a cut-short solve keeps the weak-duality bound, which is never below IBP's.
    t.true(cut.lower[j] >= ibp[j] - 1e-9, `margin ${j}: bound ${cut.lower[j]} below IBP ${ibp[j]}`);
  }
});

/** A net's operators with every affine operator rewritten as a DenseOp (via apply on unit vectors). */
function densified(ops: Op[]): Op[] {
  return ops.map((op) => {
    if (op.kind === "relu" || op instanceof DenseOp) return op;
    const b = op.apply(new Float64Array(op.inSize));
    const w = new Float64Array(op.outSize * op.inSize);
    for (let i = 0; i < op.inSize; i++) {
      const e = new Float64Array(op.inSize);
      e[i] = 1;
      const col = op.apply(e);
      for (let o = 0; o < op.outSize; o++) w[o * op.inSize + i] = col[o] - b[o];
    }
    return new DenseOp(op.inSize, op.outSize, w, b);
  });
}

test("conv and pool nets: MILP equals the MILP of the same net written densely, and bounds hold", async (t) => {
  const nets: [string, [number, number, number], LayerSpec[]][] = [
    ["conv", [1, 4, 4], [{ type: "conv2d", inChannels: 1, outChannels: 2, kernel: 3, stride: 1, padding: 1 }, relu, flatten, dense(32, 3)]],
    ["conv-pool", [1, 5, 5], [{ type: "conv2d", inChannels: 1, outChannels: 2, kernel: 3, stride: 1, padding: 0 }, relu, { type: "avgpool2d", kernel: 2, stride: 1 }, flatten, dense(8, 3)]],
  ];
  for (const [name, shape, layers] of nets) {
    const m = net(shape, layers, 4);
    const ops = networkOps(m);
    const x = randomInput(m.inputSize, 21);
    const eps = 0.08;
    for (const label of [0, 2]) {
      const a = await milpMarginBounds(m, x, label, { eps, decide: false, rounding: "none" });
      const d = await milpMarginBounds({ ops: densified(ops), classes: 3 }, x, label, { eps, decide: false, rounding: "none" });
      const lp = await lpMarginBounds(m, x, label, { eps, rounding: "none" });
      const again = await milpMarginBounds(m, x, label, { eps, decide: false, rounding: "none", lp });
      t.deepEqual(again.lower, a.lower, "handing over the LP bounds changes nothing");
      const crown = sampleBounds(m, ops, x, label, { method: "crown", eps, rounding: "none" }).lower;
      const pts = pointMinima(m, ballPoints(x, eps, 300, 3), label);
      const a32 = await milpMarginBounds(m, x, label, { eps, decide: false });
      for (let j = 0; j < 3; j++) {
        if (j === label) continue;
        const at = `${name} label ${label} margin ${j}`;
        t.is(a.status[j], "optimal", at);
        t.true(Math.abs(a.upper[j] - d.upper[j]) < 1e-5, `${at}: conv ${a.upper[j]} vs dense ${d.upper[j]}`);
        t.true(Math.abs(a.lower[j] - d.lower[j]) < 3e-4, `${at}: conv ${a.lower[j]} vs dense ${d.lower[j]}`);
        t.true(crown[j] <= lp.lower[j] + 1e-6 && lp.lower[j] <= a.lower[j] + 1e-6, `${at}: CROWN ${crown[j]} LP ${lp.lower[j]} MILP ${a.lower[j]}`);
        t.true(pts[j] >= a32.lower[j], `${at}: a float32 point reaches ${pts[j]} < ${a32.lower[j]}`);
      }
    }
  }
});

test("a negative margin yields a counterexample in the ball; the early stop skips the rest", async (t) => {
  const m = net([1, 1, 3], [flatten, dense(3, 8), relu, dense(8, 8), relu, dense(8, 4)], 5);
  const x = randomInput(3, 1);
  const clean = margins32(m, x, 0)[0];
  // Label the sample with a class that is not the prediction: some margin is negative at x.
  const label = clean.findIndex((v, j) => j > 0 && v > 0) >= 0 ? 0 : 1;
  const eps = 0.05;
  for (const solve of [lpMarginBounds, milpMarginBounds]) {
    const r = await solve(m, x, label, { eps, stopOnViolation: true });
    const c = r.counterexample;
    t.truthy(c, `${solve.name}: no counterexample`);
    if (!c) continue;
    t.true(c.value < 0 && r.upper[c.margin] <= c.value);
    for (let i = 0; i < 3; i++) t.true(c.x[i] >= Math.fround(x[i] - eps) && c.x[i] <= Math.fround(x[i] + eps) && c.x[i] >= 0 && c.x[i] <= 1);
    const f32 = margins32(m, c.x, label)[0];
    t.true(f32[c.margin] < 0, `${solve.name}: float32 margin ${f32[c.margin]} at the counterexample`);
    t.true(r.lowest < 0);
  }
  // Only the margins asked for are solved.
  const some = await lpMarginBounds(m, x, 0, { eps, margins: [2] });
  t.deepEqual(some.status, ["skipped", "skipped", "optimal", "skipped"]);
  t.is(some.lower[1], -Infinity);
});

test("bad input is one clear error", async (t) => {
  const m = net([1, 1, 3], [flatten, dense(3, 4), relu, dense(4, 3)], 1);
  const x = randomInput(3, 0);
  await t.throwsAsync(() => lpMarginBounds(m, x, 0, { eps: -0.1 }), { message: /ε must be a non-negative number/ });
  await t.throwsAsync(() => milpMarginBounds(m, x, 3, { eps: 0.1 }), { message: /label 3 is outside 0..2/ });
  await t.throwsAsync(() => milpMarginBounds(m, x, 0, { eps: 0.1, margins: [5] }), { message: /margin class 5 is outside/ });
  await t.throwsAsync(() => lpMarginBounds(m, x.subarray(0, 2), 0, { eps: 0.1 }), { message: /x holds 2 values; the network takes 3/ });
  await t.throwsAsync(() => lpMarginBounds(m, x, 0, { eps: 0.1, timeLimit: 0 }), { message: /time limit must be a positive/ });
  await t.throwsAsync(() => lpMarginBounds(m, Float32Array.of(0.1, NaN, 0.2), 0, { eps: 0.1 }), { message: /x\[1\] is not finite/ });
});
