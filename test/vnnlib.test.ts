// VNNLIB properties: the parser (boxes, linear output rows, and/or nesting into disjuncts,
// comments, number forms, every bad input as an error naming its line), verdicts on a net whose
// answers are known both ways, soundness on random nets and specs (a certified spec is never
// broken by dense sampling; every counterexample really satisfies its disjunct; every row
// bound lies below every sampled value), LP/MILP on the conjunction of a disjunct's rows
// (LP ≤ exact minimum = MILP by enumeration of linear regions; a property only the MILP proves;
// MILP counterexamples; auto's stages), and the CLI's `certify --vnnlib` on an ONNX model and
// with --method milp on a saved model.
import test from "ava";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Stream } from "../src/core/random.js";
import { BOUND_METHODS } from "../src/certify/bounds.js";
import { lpConjunction, milpConjunction, type PointCheck } from "../src/certify/conjunction.js";
import { loadHighs } from "../src/certify/highs.js";
import { networkOps, type Op } from "../src/certify/network.js";
import { rowLowerBounds, verifyVnnlib, verifyVnnlibAsync } from "../src/certify/vnnlib-verdict.js";
import { saveModel } from "../src/io/bwk.js";
import { parseVnnlib, type VnnDisjunct } from "../src/io/vnnlib.js";
import type { LayerSpec } from "../src/nn/layer.js";
import { Model } from "../src/nn/model.js";
import { bulwark, ROOT, tmp } from "./helpers/cli.js";
import { linearRegions } from "./helpers/regions.js";
import { runForward, testArena } from "./helpers/layercheck.js";

const decl = (nx: number, ny: number) =>
  [...Array.from({ length: nx }, (_, i) => `(declare-const X_${i} Real)`), ...Array.from({ length: ny }, (_, j) => `(declare-const Y_${j} Real)`)].join("\n");
const box = (lo: number[], hi: number[]) => lo.map((l, i) => `(assert (>= X_${i} ${l}))\n(assert (<= X_${i} ${hi[i]}))`).join("\n");

// ---------------------------------------------------------------------------------------------
// Parser

test("a box and one output constraint", (t) => {
  const s = parseVnnlib(`; a comment line
${decl(2, 3)}
(assert (>= X_0 -0.5)) ; trailing comment
(assert (<= X_0 5e-1))
(assert (<= X_1 1.25))
(assert (>= X_1 .25))
(assert (<= Y_0 Y_1))
`);
  t.is(s.inputs, 2);
  t.is(s.outputs, 3);
  t.is(s.disjuncts.length, 1);
  const d = s.disjuncts[0];
  t.deepEqual(Array.from(d.inputLo), [-0.5, 0.25]);
  t.deepEqual(Array.from(d.inputHi), [0.5, 1.25]);
  t.is(d.rows, 1);
  t.deepEqual(Array.from(d.C), [1, -1, 0]);
  t.deepEqual(Array.from(d.d), [0]);
  t.deepEqual(Array.from(s.inputLo), [-0.5, 0.25]);
  t.false(d.empty);
});

test("linear combinations, chains, equalities, strictness and constant atoms", (t) => {
  const s = parseVnnlib(`${decl(1, 3)}
(assert (<= 0 X_0 1))
(assert (>= (+ (* 2 Y_0) (- Y_1) 0.5) (* -1 Y_2)))
(assert (< (- Y_0 Y_1 Y_2) (/ 3 2)))
(assert (= Y_2 (* 0.5 4)))
(assert (<= 1 2))
`);
  const d = s.disjuncts[0];
  t.deepEqual(Array.from(d.inputLo), [0]);
  t.deepEqual(Array.from(d.inputHi), [1]);
  // −(2Y0 − Y1 + 0.5) − Y2 ≤ 0 → −2Y0 + Y1 − Y2 ≤ 0.5; Y0 − Y1 − Y2 < 1.5; Y2 ≤ 2 and −Y2 ≤ −2.
  t.is(d.rows, 4);
  t.deepEqual(Array.from(d.C), [-2, 1, -1, 1, -1, -1, 0, 0, 1, 0, 0, -1]);
  t.deepEqual(Array.from(d.d), [0.5, 1.5, 2, -2]);
  t.deepEqual(d.strict, [false, true, false, false]);
  // A false constant atom empties its disjunct; contradictory bounds make an empty box.
  t.true(parseVnnlib(`${decl(1, 1)}\n(assert (<= 0 X_0 1))\n(assert (<= 2 1))`).disjuncts[0].empty);
  t.true(parseVnnlib(`${decl(1, 1)}\n(assert (<= 0.5 X_0))\n(assert (<= X_0 0.25))`).disjuncts[0].empty);
  // Scaled input bounds: 4·X_0 ≤ 1 → X_0 ≤ 0.25 (exact), 3·X_0 ≥ 1 → X_0 ≥ 1/3 widened outward.
  const sc = parseVnnlib(`${decl(1, 1)}\n(assert (<= (* 4 X_0) 1))\n(assert (>= (* 3 X_0) 1))`).disjuncts[0];
  t.is(sc.inputHi[0], 0.25);
  t.true(sc.inputLo[0] <= 1 / 3 && sc.inputLo[0] > 1 / 3 - 1e-15);
});

test("disjunctions over outputs and over input boxes expand to disjuncts", (t) => {
  // VNN-COMP's usual form: "some other class wins".
  const s = parseVnnlib(`${decl(2, 3)}
${box([0, 0], [1, 1])}
(assert (or
  (and (>= Y_1 Y_0))
  (and (>= Y_2 Y_0) (>= Y_2 Y_1))
))`);
  t.is(s.disjuncts.length, 2);
  t.is(s.disjuncts[0].rows, 1);
  t.deepEqual(Array.from(s.disjuncts[0].C), [1, -1, 0]);
  t.is(s.disjuncts[1].rows, 2);
  t.deepEqual(Array.from(s.disjuncts[1].C), [1, 0, -1, 0, 1, -1]);
  // Input disjunction × output disjunction: 2 × 2 disjuncts, each with its own box.
  const u = parseVnnlib(`${decl(1, 2)}
(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 3) (<= X_0 4))))
(assert (or (<= Y_0 0) (<= Y_1 0)))`);
  t.is(u.disjuncts.length, 4);
  t.deepEqual(u.disjuncts.map((d) => [d.inputLo[0], d.inputHi[0], Array.from(d.C).join(",")]), [
    [0, 1, "1,0"], [0, 1, "0,1"], [3, 4, "1,0"], [3, 4, "0,1"],
  ]);
  t.deepEqual([u.inputLo[0], u.inputHi[0]], [0, 4]);
});

test("bad input is an error naming the line", (t) => {
  const cases: [string, RegExp][] = [
    [`${decl(1, 1)}\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= Y_0 Z_3))`, /^s:5: undeclared variable 'Z_3'$/],
    [`${decl(1, 1)}\n(assert (<= X_0 1)))`, /^s:3: unbalanced '\)'$/],
    [`${decl(1, 1)}\n(assert (<= X_0\n 1)`, /^s:3: unclosed '\('/],
    [`${decl(1, 1)}\n(assert (<= X_0 1))\n(assert (<= Y_0 0))`, /^s:\d+: X_0 has no lower bound/],
    [`${decl(1, 1)}\n(assert (<= 0 X_0 1))\n(assert (<= X_0 Y_0))`, /^s:4: a constraint mixes inputs and outputs/],
    [`${decl(2, 1)}\n(assert (<= (+ X_0 X_1) 1))`, /^s:4: an input constraint must bound one variable \(a box\), this one has X_0, X_1/],
    [`${decl(1, 2)}\n(assert (<= (* Y_0 Y_1) 1))`, /^s:4: product of two variables/],
    [`${decl(1, 1)}\n(define-fun f () Real 1)`, /^s:3: unknown command 'define-fun'/],
    [`(declare-const X_0 Int)`, /^s:1: 'X_0' must be declared Real/],
    [`(declare-const X_0 Real)\n(declare-const X_0 Real)`, /^s:2: 'X_0' declared twice/],
    [`(declare-const X_0 Real)\n(declare-const X_2 Real)\n(declare-const Y_0 Real)\n(assert (<= 0 X_0 1))`, /X_1 is not declared, but X_2 is/],
    [`(declare-const Z Real)`, /^s:1: declare-const needs a name X_i or Y_j/],
    [`${decl(1, 1)}\n(assert (<= 0 X_0 1))\n(assert (not (<= Y_0 0)))`, /^s:4: 'not' is not supported/],
    [`${decl(1, 1)}\n(assert (<= 0 X_0 1))\n(assert (<= (exp Y_0) 0))`, /^s:4: 'exp' is not a linear arithmetic operator/],
    [`${decl(1, 1)}\n(assert (<= 0 X_0 1))\n(assert (<= (/ Y_0 0) 0))`, /^s:4: division by zero/],
    [`${decl(1, 1)}\n(assert (<= 0 X_0 1))\n(assert (<= Y_0 1e))`, /^s:4: undeclared variable '1e'/],
    [`(declare-const Y_0 Real)`, /no input variables/],
    [`${decl(1, 1)}\nstray`, /^s:3: 'stray' outside parentheses/],
    [`${"(".repeat(500)}`, /^s:1: nesting deeper than 200/],
    [`${decl(1, 1)}\n(assert (<= 0 X_0 1))\n(assert false)`, /unsatisfiable as written/],
  ];
  for (const [text, re] of cases) {
    const e = t.throws(() => parseVnnlib(text, "s"));
    t.regex(e?.message ?? "", re, text);
    t.false(e?.message.includes("\n"));
  }
  // 14 binary disjunctions: 2^14 disjuncts is over the limit.
  const many = `${decl(1, 2)}\n(assert (<= 0 X_0 1))\n${Array.from({ length: 14 }, () => "(assert (or (<= Y_0 0) (<= Y_1 0)))").join("\n")}`;
  t.throws(() => parseVnnlib(many, "s"), { message: /^s:\d+: the formula expands to more than 10000 disjuncts/ });
});

// ---------------------------------------------------------------------------------------------
// Verdicts on a net with known answers: y0 = x0 + x1, y1 = x0 − x1 (ReLU is the identity on
// the positive boxes used), so over x ∈ [0.5, 1]²: y0 ∈ [1, 2], y1 ∈ [−0.5, 0.5], y0 − y1 = 2·x1.

function knownNet(): Model {
  const layers: LayerSpec[] = [{ type: "dense", in: 2, out: 2 }, { type: "relu" }, { type: "dense", in: 2, out: 2 }];
  const m = new Model({ name: "known", inputShape: [2], layers }, testArena());
  m.setParams(Float32Array.from([1, 0, 0, 1, 0, 0, 1, 1, 1, -1, 0, 0]));
  return m;
}

const KNOWN = `${decl(2, 2)}\n${box([0.5, 0.5], [1, 1])}\n`;

test("verdicts where the answer is known both ways", (t) => {
  const m = knownNet();
  for (const method of BOUND_METHODS) {
    // y0 ≤ y1 needs x1 ≤ 0: impossible → certified (unsat).
    const r = verifyVnnlib(m, parseVnnlib(`${KNOWN}(assert (<= Y_0 Y_1))`), { method });
    t.is(r.verdict, "certified", method);
    t.is(r.vnncomp, "unsat");
    t.is(r.disjuncts[0].status, "infeasible");
    t.true(r.disjuncts[0].bestLowerBound! > 0.99 && r.disjuncts[0].bestLowerBound! <= 1, `${method}: ${r.disjuncts[0].bestLowerBound}`);
    // Every disjunct infeasible: y0 ≤ 0.9 or y1 ≥ 0.6.
    t.is(verifyVnnlib(m, parseVnnlib(`${KNOWN}(assert (or (<= Y_0 0.9) (>= Y_1 0.6)))`), { method }).verdict, "certified");
  }
  // y1 ≥ 0.45 holds near x = (1, 0.5): falsified, with a real counterexample.
  const f = verifyVnnlib(m, parseVnnlib(`${KNOWN}(assert (>= Y_1 0.45))`), { method: "crown" });
  t.is(f.verdict, "falsified");
  t.is(f.vnncomp, "sat");
  const cx = f.counterexample!;
  t.true(cx.x[0] >= 0.5 && cx.x[0] <= 1 && cx.x[1] >= 0.5 && cx.x[1] <= 1);
  const y = runForward(m, cx.x, 1);
  t.deepEqual(Array.from(y), cx.y);
  t.true(y[1] >= 0.45);
  // Only the second disjunct is satisfiable (y0 ≥ 1.9 near (1, 1)): the search must find it.
  const g = verifyVnnlib(m, parseVnnlib(`${KNOWN}(assert (or (<= Y_0 0.9) (and (>= Y_0 1.9) (<= Y_1 0.05))))`), { method: "ibp", samples: 4 });
  t.is(g.verdict, "falsified");
  t.is(g.counterexample!.disjunct, 1);
  t.is(g.disjuncts[1].status, "violated");
  // Strict rows: y1 < −0.5 is impossible (y1 ≥ −0.5); y1 ≤ −0.5 holds only at x = (0.5, 1).
  t.not(verifyVnnlib(m, parseVnnlib(`${KNOWN}(assert (< Y_1 -0.5))`), { method: "crown" }).verdict, "falsified");
  t.is(verifyVnnlib(m, parseVnnlib(`${KNOWN}(assert (<= Y_1 -0.5))`), { method: "crown" }).verdict, "falsified");
  // Unknown: y0 ≤ 1 holds only at the corner x = (0.5, 0.5) — the bound cannot exceed 0 there,
  // and a search without corners or gradient steps does not land on it.
  const u = verifyVnnlib(m, parseVnnlib(`${KNOWN}(assert (<= Y_0 1))\n(assert (<= Y_1 -0.1))`), { method: "crown", samples: 1, steps: 0 });
  t.is(u.verdict, "unknown");
  t.is(u.disjuncts[0].status, "open");
  // The spec must match the model.
  t.throws(() => verifyVnnlib(m, parseVnnlib(`${decl(3, 2)}\n${box([0, 0, 0], [1, 1, 1])}\n(assert (<= Y_0 0))`), { method: "ibp" }), { message: /the spec has 3 inputs .* but the model takes 2/ });
  t.throws(() => verifyVnnlib(m, parseVnnlib(`${decl(2, 3)}\n${box([0, 0], [1, 1])}\n(assert (<= Y_0 0))`), { method: "ibp" }), { message: /3 outputs .* but the model gives 2/ });
});

// ---------------------------------------------------------------------------------------------
// Soundness on random nets and specs

function randomNet(seed: number): Model {
  const layers: LayerSpec[] = [
    { type: "normalize", mean: [0.5, 0.25, 0], std: [0.5, 2, -1] },
    { type: "dense", in: 3, out: 8 }, { type: "relu" }, { type: "dense", in: 8, out: 8 }, { type: "relu" }, { type: "dense", in: 8, out: 3 },
  ];
  return new Model({ name: "r", inputShape: [3], layers }, testArena()).init(seed);
}

function randomSpec(rng: Stream): string {
  const lo = [0, 1, 2].map(() => rng.next() - 0.5);
  const hi = lo.map((l) => l + 0.02 + 0.3 * rng.next());
  const row = () => {
    const c = [0, 1, 2].map(() => (rng.next() < 0.5 ? 0 : Math.round(8 * rng.next() - 4) / 2));
    const terms = c.map((v, j) => (v === 0 ? "" : ` (* ${v} Y_${j})`)).join("");
    return `(<= (+ 0${terms}) ${(rng.next() - 0.5).toFixed(3)})`;
  };
  return `${decl(3, 3)}\n${box(lo, hi)}\n(assert (or (and ${row()} ${row()}) (and ${row()})))`;
}

/** Dense samples of a disjunct's box: corners and uniform points, as float32 inside it. */
function samples(dj: VnnDisjunct, rng: Stream, n: number): Float32Array {
  const x = new Float32Array(n * 3);
  for (let s = 0; s < n; s++) {
    for (let i = 0; i < 3; i++) {
      const t = s < 8 ? (s >> i) & 1 : rng.next();
      let v = Math.fround(dj.inputLo[i] + t * (dj.inputHi[i] - dj.inputLo[i]));
      // Step by at least one float32 ulp towards the inside.
      while (v < dj.inputLo[i]) v = Math.fround(v + Math.abs(v) * 2 ** -23 + 2 ** -149);
      while (v > dj.inputHi[i]) v = Math.fround(v - Math.abs(v) * 2 ** -23 - 2 ** -149);
      x[s * 3 + i] = v;
    }
  }
  return x;
}

test("soundness: certified specs are never broken, counterexamples are real, bounds lie below samples", (t) => {
  const rng = new Stream(42, 1);
  const counts: Record<string, number> = { certified: 0, falsified: 0, unknown: 0 };
  for (let trial = 0; trial < 24; trial++) {
    const m = randomNet(trial);
    const spec = parseVnnlib(randomSpec(rng), `spec${trial}`);
    const ops = networkOps(m);
    for (const method of BOUND_METHODS) {
      const r = verifyVnnlib(m, spec, { method, seed: trial, samples: 64, steps: 20 });
      counts[r.verdict]++;
      if (r.counterexample) {
        const dj = spec.disjuncts[r.counterexample.disjunct];
        const y = runForward(m, r.counterexample.x, 1);
        r.counterexample.x.forEach((v, i) => t.true(v >= dj.inputLo[i] && v <= dj.inputHi[i]));
        for (let k = 0; k < dj.rows; k++) {
          let s = -dj.d[k];
          for (let j = 0; j < 3; j++) s += dj.C[k * 3 + j] * y[j];
          t.true(s <= 0, `trial ${trial}: counterexample breaks row ${k}`);
        }
      }
      for (const dj of spec.disjuncts) {
        if (dj.empty) continue;
        const lower = rowLowerBounds(m, ops, dj, { method });
        const x = samples(dj, rng, 400);
        const ys = runForward(m, x, 400);
        let satisfied = false;
        for (let s = 0; s < 400; s++) {
          let all = true;
          for (let k = 0; k < dj.rows; k++) {
            let v = -dj.d[k];
            for (let j = 0; j < 3; j++) v += dj.C[k * 3 + j] * ys[s * 3 + j];
            if (v < lower[k]) t.fail(`trial ${trial} ${method}: sampled ${v} below bound ${lower[k]}`);
            if (!(v <= 0)) all = false;
          }
          satisfied ||= all;
        }
        if (r.verdict === "certified") t.false(satisfied, `trial ${trial} ${method}: certified but a sample satisfies a disjunct`);
      }
    }
  }
  // The random specs exercise all three verdicts.
  t.true(counts.certified > 0 && counts.falsified > 0, JSON.stringify(counts));
  t.log(JSON.stringify(counts));
});

// ---------------------------------------------------------------------------------------------
// LP and MILP over a disjunct's conjunction: min over the box of max_r (C_r·y − d_r)

/**
 * The exact min over the box of max_r (C_r·y − d_r) by enumeration: IBP fixes the stable
 * neurons; on each on/off pattern of the unstable ones the network is affine in x, and one LP
 * over (x, t) minimises t ≥ C_r·y(x) − d_r on the region where the pattern holds.
 */
async function exactMin(ops: Op[], dj: VnnDisjunct, outputs: number): Promise<{ min: number; unstable: number }> {
  const h = await loadHighs();
  const n0 = dj.inputLo.length;
  const { unstable, regions } = linearRegions(ops, dj.inputLo, dj.inputHi);
  let min = Infinity;
  for (const { rows: xRows, out: v } of regions) {
    // Rows over the columns (x_0..x_{n0−1}, t): lo ≤ a·(x, t) ≤ hi (the region's rows have t's entry 0).
    const rows = [...xRows];
    // t − Σ_j C_rj·(a_j·x) ≥ Σ_j C_rj·c_j − d_r.
    for (let r = 0; r < dj.rows; r++) {
      const a = new Float64Array(n0 + 1);
      let c = -dj.d[r];
      for (let j = 0; j < outputs; j++) {
        const cj = dj.C[r * outputs + j];
        for (let q = 0; q < n0; q++) a[q] -= cj * v[j][q];
        c += cj * v[j][n0];
      }
      a[n0] = 1;
      rows.push({ a, lo: c, hi: Infinity });
    }
    const inf = h.infinity;
    const w = n0 + 1;
    const m = h.createModel({
      numCols: w, numRows: rows.length, colCost: Float64Array.from({ length: w }, (_, c) => (c === n0 ? 1 : 0)),
      colLower: [...dj.inputLo, -1e6], colUpper: [...dj.inputHi, 1e6],
      rowLower: rows.map((r) => (r.lo === -Infinity ? -inf : r.lo)), rowUpper: rows.map((r) => (r.hi === Infinity ? inf : r.hi)),
      matrix: {
        format: "csr", numRows: rows.length, numCols: w,
        starts: rows.map((_, i) => i * w).concat(rows.length * w),
        indices: rows.flatMap(() => Array.from({ length: w }, (_, c) => c)),
        values: rows.flatMap((r) => Array.from(r.a)),
      },
    });
    try {
      m.options.set({ output_flag: false });
      const status = m.run().modelStatus;
      if (status === h.constants.modelStatus.infeasible) continue;
      if (status !== h.constants.modelStatus.optimal) throw new Error(`reference LP ended with status ${status}`);
      min = Math.min(min, m.getObjectiveValue());
    } finally {
      m.dispose();
    }
  }
  return { min, unstable };
}

const NO_CHECK: PointCheck = { lo: new Float32Array(0), hi: new Float32Array(0), holds: () => false };

test("LP ≤ exact minimum of the conjunction = MILP (enumerated linear regions), with and without tightening", async (t) => {
  const h = await loadHighs();
  const rng = new Stream(7, 3);
  let checked = 0;
  for (let trial = 0; trial < 40 && checked < 12; trial++) {
    const m = randomNet(100 + trial);
    const ops = networkOps(m);
    const spec = parseVnnlib(randomSpec(rng), `spec${trial}`);
    for (const dj of spec.disjuncts) {
      if (dj.empty || dj.rows === 0) continue;
      const ref = await exactMin(ops, dj, 3);
      if (ref.unstable > 10 || ref.unstable < 2) continue;
      checked++;
      const at = `trial ${trial}, ${ref.unstable} unstable: exact ${ref.min}`;
      const exact = { rounding: "none" as const };
      const lp = lpConjunction(h, ops, 3, dj.inputLo, dj.inputHi, dj, exact, NO_CHECK);
      t.true(lp.lower <= ref.min + 1e-9, `${at}, LP ${lp.lower}`);
      for (const tighten of ["none", "lp"] as const) {
        const milp = milpConjunction(h, ops, 3, dj.inputLo, dj.inputHi, dj, { ...exact, tighten, decide: false }, NO_CHECK);
        t.is(milp.status, "optimal", at);
        t.true(milp.lower <= ref.min + 1e-7 && milp.lower >= ref.min - 2e-4, `${at}, MILP (tighten ${tighten}) ${milp.lower}`);
        t.true(milp.lower >= lp.lower - 1e-9, `${at}: MILP ${milp.lower} below LP ${lp.lower}`);
        t.true(milp.unstable <= ref.unstable, at);
      }
      // The float32 versions lie below every sampled value of max_r (C_r·ỹ − d_r).
      const lp32 = lpConjunction(h, ops, 3, dj.inputLo, dj.inputHi, dj, {}, NO_CHECK);
      const milp32 = milpConjunction(h, ops, 3, dj.inputLo, dj.inputHi, dj, { decide: false }, NO_CHECK);
      t.true(lp32.lower <= lp.lower && milp32.lower <= milp32.lower);
      const x = samples(dj, rng, 400);
      const ys = runForward(m, x, 400);
      let best = Infinity;
      for (let s = 0; s < 400; s++) {
        let v = -Infinity;
        for (let k = 0; k < dj.rows; k++) {
          let r = -dj.d[k];
          for (let j = 0; j < 3; j++) r += dj.C[k * 3 + j] * ys[s * 3 + j];
          v = Math.max(v, r);
        }
        best = Math.min(best, v);
      }
      t.true(best >= milp32.lower, `${at}: a float32 point reaches ${best} < MILP bound ${milp32.lower}`);
      t.true(best >= ref.min - 1e-5, `${at}: a float32 point reaches ${best} below the exact minimum`);
    }
  }
  t.true(checked >= 6, `only ${checked} disjuncts had a small enough enumeration`);
  t.log(`${checked} disjuncts checked against enumeration`);
});

/** A random box and rows near the decision boundary: each row's value at the box centre is within ±0.15 of 0, and fails at the centre for at least one row. */
function nearSpec(m: Model, rng: Stream): string {
  const lo = [0, 1, 2].map(() => rng.next() - 0.5);
  const hi = lo.map((l) => l + 0.1 + 0.3 * rng.next());
  const y = runForward(m, Float32Array.from(lo, (l, i) => Math.fround((l + hi[i]) / 2)), 1);
  const row = (fail: boolean) => {
    const c = [0, 1, 2].map(() => Math.round(8 * rng.next() - 4) / 2);
    const at = c.reduce((a, v, j) => a + v * y[j], 0);
    // C·y ≤ d fails at the centre when d < C·y(centre).
    const d = at + (fail ? -0.15 * rng.next() - 0.001 : 0.3 * rng.next() - 0.15);
    return `(<= (+ 0${c.map((v, j) => ` (* ${v} Y_${j})`).join("")}) ${d.toFixed(4)})`;
  };
  return `${decl(3, 3)}\n${box(lo, hi)}\n(assert (or (and ${row(true)} ${row(false)}) (and ${row(true)})))`;
}

test("lp, milp and auto verdicts on random nets: certified never broken, counterexamples real, never weaker than CROWN", async (t) => {
  const rng = new Stream(43, 1);
  const counts: Record<string, number> = { certified: 0, falsified: 0, unknown: 0 };
  const by: Record<string, number> = {};
  for (let trial = 0; trial < 16; trial++) {
    const m = randomNet(trial);
    const spec = parseVnnlib(nearSpec(m, rng), `spec${trial}`);
    // The search tries the centre only: the solvers, not the search, meet the open disjuncts.
    const few = { seed: trial, samples: 1, steps: 0 };
    const crown = verifyVnnlib(m, spec, { method: "crown", ...few });
    for (const method of ["lp", "milp", "auto"] as const) {
      const r = await verifyVnnlibAsync(m, spec, { method, ...few, nodeLimit: 200 });
      counts[r.verdict]++;
      for (const d of r.disjuncts) if (d.decidedBy) by[`${d.status} by ${d.decidedBy}`] = (by[`${d.status} by ${d.decidedBy}`] ?? 0) + 1;
      if (crown.verdict === "certified" && method !== "lp") t.is(r.verdict, "certified", `trial ${trial} ${method}`);
      if (r.counterexample) {
        const dj = spec.disjuncts[r.counterexample.disjunct];
        const y = runForward(m, r.counterexample.x, 1);
        t.deepEqual(Array.from(y), r.counterexample.y);
        r.counterexample.x.forEach((v, i) => t.true(v >= dj.inputLo[i] && v <= dj.inputHi[i]));
        for (let k = 0; k < dj.rows; k++) {
          let s = -dj.d[k];
          for (let j = 0; j < 3; j++) s += dj.C[k * 3 + j] * y[j];
          t.true(dj.strict[k] ? s < 0 : s <= 0, `trial ${trial} ${method}: counterexample breaks row ${k}`);
        }
      }
      if (r.verdict !== "certified") continue;
      for (const dj of spec.disjuncts) {
        if (dj.empty) continue;
        const ys = runForward(m, samples(dj, rng, 400), 400);
        for (let s = 0; s < 400; s++) {
          let all = true;
          for (let k = 0; k < dj.rows; k++) {
            let v = -dj.d[k];
            for (let j = 0; j < 3; j++) v += dj.C[k * 3 + j] * ys[s * 3 + j];
            if (!(v <= 0)) all = false;
          }
          t.false(all, `trial ${trial} ${method}: certified but a sample satisfies a disjunct`);
        }
      }
    }
  }
  t.true(counts.certified > 0 && counts.falsified > 0, JSON.stringify(counts));
  t.true((by["violated by milp"] ?? 0) > 0 && (by["infeasible by milp"] ?? 0) > 0, JSON.stringify(by));
  t.log(JSON.stringify(counts), JSON.stringify(by));
});

// y0 = relu(x) + relu(−x) = |x|, y1 = relu(x + 1) − 1 = x on x ∈ [−1, 1]. "y0 ≥ 0.6 and
// |y1| ≤ 0.5" is infeasible (min of max(0.6 − |x|, |x| − 0.5) is 0.05 at |x| = 0.55), but every
// row alone is satisfiable, and the triangle relaxation allows y0 up to 1 at x = 0: neither
// row-wise bounds (CROWN, α-CROWN) nor the LP prove it; the MILP does.
function absNet(): Model {
  const layers: LayerSpec[] = [{ type: "dense", in: 1, out: 3 }, { type: "relu" }, { type: "dense", in: 3, out: 2 }];
  const m = new Model({ name: "abs", inputShape: [1], layers }, testArena());
  m.setParams(Float32Array.from([1, -1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, -1]));
  return m;
}

const ABS = `${decl(1, 2)}\n${box([-1], [1])}\n`;
const ABS_GAP = "(and (>= Y_0 0.6) (<= Y_1 0.5) (>= Y_1 -0.5))";

test("a property CROWN and the LP cannot prove but the MILP can", async (t) => {
  const m = absNet();
  const spec = parseVnnlib(`${ABS}(assert ${ABS_GAP})`);
  for (const method of ["crown", "alpha-crown", "lp"] as const) {
    const r = await verifyVnnlibAsync(m, spec, { method });
    t.is(r.verdict, "unknown", method);
    t.true(r.disjuncts[0].bestLowerBound! < 0, method);
  }
  const r = await verifyVnnlibAsync(m, spec, { method: "milp" });
  t.like(r, { verdict: "certified", vnncomp: "unsat" });
  t.like(r.disjuncts[0], { status: "infeasible", decidedBy: "milp", bestRow: null });
  const lb = r.disjuncts[0].bestLowerBound!;
  t.true(lb > 0 && lb <= 0.05, `${lb}`);
  // Solved to optimality the bound is the minimum 0.05, less the solver-tolerance allowance.
  const h = await loadHighs();
  const dj = spec.disjuncts[0];
  const full = milpConjunction(h, networkOps(m), 2, dj.inputLo, dj.inputHi, dj, { decide: false, rounding: "none" }, NO_CHECK);
  t.true(full.lower <= 0.05 + 1e-12 && full.lower > 0.05 - 1e-4, `${full.lower}`);
  t.is(full.unstable, 2);
  // The synchronous entry point refuses the solver methods with a clear error.
  t.throws(() => verifyVnnlib(m, spec, { method: "milp" }), { message: /method 'milp' needs the HiGHS solver: use verifyVnnlibAsync/ });
  await t.throwsAsync(() => verifyVnnlibAsync(m, spec, { method: "milp", timeLimit: 0 }), { message: /time limit must be a positive number/ });
});

test("a violated property the search misses: the MILP's point checks on the float32 network", async (t) => {
  const m = absNet();
  // 0.6 ≤ y1 = x ≤ 0.65 and y0 = |x| ≥ 0.6: x ∈ [0.6, 0.65]. The search only tries the centre.
  const spec = parseVnnlib(`${ABS}(assert (and (>= Y_0 0.6) (<= Y_1 0.65) (>= Y_1 0.6)))`);
  const few = { samples: 1, steps: 0 };
  t.is((await verifyVnnlibAsync(m, spec, { method: "crown", ...few })).verdict, "unknown");
  for (const method of ["milp", "auto"] as const) {
    const r = await verifyVnnlibAsync(m, spec, { method, ...few });
    t.like(r, { verdict: "falsified", vnncomp: "sat", counterexample: { disjunct: 0 } }, method);
    t.like(r.disjuncts[0], { status: "violated", decidedBy: "milp" });
    const cx = r.counterexample!;
    t.true(cx.x[0] >= -1 && cx.x[0] <= 1 && Math.fround(cx.x[0]) === cx.x[0]);
    const y = runForward(m, cx.x, 1);
    t.deepEqual(Array.from(y), cx.y);
    t.true(y[0] >= 0.6 && y[1] <= 0.65 && y[1] >= 0.6, `y = ${Array.from(y)}`);
  }
});

test("auto: search → ibp → crown → α-CROWN → milp per disjunct, reporting the stage that decided", async (t) => {
  const m = absNet();
  // Disjunct 0: y0 ≤ −0.1 (IBP: y0 ≥ 0). Disjunct 1: y0 − y1 = |x| − x ≤ −0.1 (needs α-CROWN's
  // slope 1 on relu(x); IBP and CROWN give −0.9). Disjunct 2: only the MILP.
  const spec = parseVnnlib(`${ABS}(assert (or (<= Y_0 -0.1) (<= (- Y_0 Y_1) -0.1) ${ABS_GAP}))`);
  const r = await verifyVnnlibAsync(m, spec, { method: "auto" });
  t.is(r.verdict, "certified");
  t.deepEqual(r.disjuncts.map((d) => d.decidedBy), ["ibp", "alpha-crown", "milp"]);
  t.deepEqual(r.disjuncts.map((d) => d.solverStatus === null), [true, true, false]);
  // A violation the search finds is decided by it, before any bound.
  const f = await verifyVnnlibAsync(m, parseVnnlib(`${ABS}(assert (>= Y_0 0.9))`), { method: "auto" });
  t.like(f, { verdict: "falsified" });
  t.is(f.disjuncts[0].decidedBy, "search");
  // Bound methods report what decided too.
  const c = verifyVnnlib(m, spec, { method: "crown" });
  t.deepEqual(c.disjuncts.map((d) => d.decidedBy), ["crown", null, null]);
});

// ---------------------------------------------------------------------------------------------
// CLI (the built command)


test("certify --vnnlib on an ONNX model: JSON verdict; bad specs exit non-zero with the line", async (t) => {
  const dir = tmp(t);
  const model = join(ROOT, "test/fixtures/torch-cnn.onnx");
  const lines = [decl(64, 3)];
  for (let i = 0; i < 64; i++) lines.push(`(assert (>= X_${i} 0.45)) (assert (<= X_${i} 0.55))`);
  // Output 0 never falls below −1000 on this box and class 2 never catches up with class 1:
  // certified. Class 1 beating both others happens at the centre already: falsified.
  const write = (name: string, last: string) => {
    const p = join(dir, name);
    writeFileSync(p, [...lines, last].join("\n"));
    return p;
  };
  const safe = write("safe.vnnlib", "(assert (or (and (<= Y_0 -1000)) (and (>= Y_2 Y_1))))");
  const r = await bulwark(["certify", "--model", model, "--vnnlib", safe, "--method", "crown", "--json", "--workers", "0"]);
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  t.like(out, { command: "certify", model, vnnlib: safe, method: "crown", verdict: "certified", vnncomp: "unsat" });
  t.deepEqual(out.disjuncts.map((d: { status: string }) => d.status), ["infeasible", "infeasible"]);
  t.is(typeof out.seconds, "number");
  t.is(out.counterexample, undefined);
  const unsafe = write("unsafe.vnnlib", "(assert (or (and (<= Y_0 -1000)) (and (>= Y_1 Y_0) (>= Y_1 Y_2))))");
  const f = JSON.parse((await bulwark(["certify", "--model", model, "--vnnlib", unsafe, "--json", "--workers", "0"])).stdout.trim());
  t.like(f, { verdict: "falsified", vnncomp: "sat", counterexample: { disjunct: 1 } });
  t.is(f.counterexample.x.length, 64);
  t.true(f.counterexample.y[1] >= f.counterexample.y[0] && f.counterexample.y[1] >= f.counterexample.y[2]);
  const bad = join(dir, "bad.vnnlib");
  writeFileSync(bad, `${decl(64, 3)}\n(assert (<= X_0 0.5)`);
  const e = await bulwark(["certify", "--model", model, "--vnnlib", bad, "--workers", "0"]);
  t.is(e.code, 1);
  t.regex(e.stderr, /^bulwark: error: .*bad\.vnnlib:68: unclosed '\('/);
  const noEps = await bulwark(["certify", "--model", model, "--workers", "0"]);
  t.is(noEps.code, 2);
  t.regex(noEps.stderr, /^bulwark: error: required option '--eps <x>' not specified \(or give --vnnlib <file>\)\n$/);
});

test("certify --vnnlib --method milp|auto --json: per-disjunct decidedBy, solver limits, a counterexample that checks", async (t) => {
  const dir = tmp(t);
  const model = join(dir, "abs.bwk");
  const m = absNet();
  saveModel(model, { architecture: m.arch, params: m.params.f32.slice() });
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const gap = write("gap.vnnlib", `${ABS}(assert (or (<= Y_0 -0.1) ${ABS_GAP}))`);
  const r = await bulwark(["certify", "--model", model, "--vnnlib", gap, "--method", "milp", "--node-limit", "100", "--time-limit", "5", "--json", "--workers", "0"]);
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  t.like(out, { command: "certify", method: "milp", verdict: "certified", vnncomp: "unsat", timeLimit: 5, nodeLimit: 100, tighten: null, decidedBy: { milp: 2 } });
  t.deepEqual(out.disjuncts.map((d: { decidedBy: string }) => d.decidedBy), ["milp", "milp"]);
  const auto = JSON.parse((await bulwark(["certify", "--model", model, "--vnnlib", gap, "--method", "auto", "--tighten", "none", "--json", "--workers", "0"])).stdout.trim());
  t.like(auto, { verdict: "certified", tighten: "none", decidedBy: { ibp: 1, milp: 1 } });
  t.deepEqual(auto.disjuncts.map((d: { decidedBy: string }) => d.decidedBy), ["ibp", "milp"]);
  // Found by the MILP (the search tries only a few points here): the point is a real one.
  // A sliver the search (256 samples, one gradient step) misses: the MILP's point is a real one.
  const viol = write("viol.vnnlib", `${ABS}(assert (and (>= Y_0 0.6) (<= Y_1 0.6001) (>= Y_1 0.6)))`);
  const f = JSON.parse((await bulwark(["certify", "--model", model, "--vnnlib", viol, "--method", "milp", "--steps", "1", "--restarts", "1", "--json", "--workers", "0"])).stdout.trim());
  t.like(f, { verdict: "falsified", vnncomp: "sat", counterexample: { disjunct: 0 }, decidedBy: { milp: 1 } });
  const y = runForward(m, Float32Array.from(f.counterexample.x), 1);
  t.true(y[0] >= 0.6 && y[1] <= 0.6001 && y[1] >= 0.6, `y = ${Array.from(y)}`);
  const bad = await bulwark(["certify", "--model", model, "--vnnlib", gap, "--method", "milp", "--tighten", "milp", "--workers", "0"]);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /--tighten/);
});
