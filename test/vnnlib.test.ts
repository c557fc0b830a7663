// VNNLIB properties: the parser (boxes, linear output rows, and/or nesting into disjuncts,
// comments, number forms, every bad input as an error naming its line), verdicts on a net whose
// answers are known both ways, soundness on random nets and specs (a certified spec is never
// broken by dense sampling; every counterexample really satisfies its disjunct; every row
// bound lies below every sampled value), and the CLI's `certify --vnnlib` on an ONNX model.
import test from "ava";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Stream } from "../src/core/random.js";
import { BOUND_METHODS } from "../src/certify/bounds.js";
import { networkOps } from "../src/certify/network.js";
import { rowLowerBounds, verifyVnnlib } from "../src/certify/vnnlib-verdict.js";
import { parseVnnlib, type VnnDisjunct } from "../src/io/vnnlib.js";
import type { LayerSpec } from "../src/nn/layer.js";
import { Model } from "../src/nn/model.js";
import { bulwark, ROOT, tmp } from "./helpers/cli.js";
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
