// The attack toolkit: random draws shared by JS and WASM, PGD/FGSM staying inside the ball
// and the data range, PGD at least as strong as FGSM, determinism under a seed, results
// that do not depend on how a batch is cut into shards, and the robust monitor's verdicts.
import test from "ava";
import { hash32 } from "../src/core/random.js";
import { runtime } from "../src/core/runtime.js";
import { loadData } from "../src/data/index.js";
import { gather } from "../src/data/batches.js";
import { Model } from "../src/nn/model.js";
import { layoutShard } from "../src/pool/shard.js";
import { pgd } from "../src/attack/pgd.js";
import type { PgdOptions } from "../src/attack/threat.js";
import { RobustMonitor } from "../src/train/monitor.js";
import type { ShardedEngine } from "../src/train/engine.js";
import { trainedMlp } from "./helpers/trained.js";

const data = loadData("mnist", { limit: 2000, testLimit: 64 });
/** The shared undefended mlp (test/helpers/trained.ts). */
const model = (): Promise<Model> => trainedMlp(data.train);

/** Runs PGD on test rows [from, from + n) in a fresh shard region; returns adversarial inputs, losses and predictions. */
function attackRows(m: Model, from: number, n: number, o: PgdOptions, seed = 3) {
  const arena = m.arena;
  const start = arena.mark();
  const r = layoutShard(m.rt, m.arch, m.params.ptr, start, n, true);
  arena.bytes(r.end - start);
  const idx = Uint32Array.from({ length: n }, (_, i) => from + i);
  gather(data.test, idx, r.x0, r.plan.labels);
  r.samples.set(idx);
  const losses = pgd(r.model, r.plan, n, r.x0Ptr, o, { seed, stream: 11, samples: r.samplesPtr }, r.ws, true).slice(0, n);
  r.model.forward(r.plan, n);
  const pred = r.model.predict(r.plan, n).slice(0, n);
  const x = Float32Array.from(r.x0.subarray(0, n * 784));
  const xadv = Float32Array.from(r.plan.input.subarray(0, n * 784));
  return { x, xadv, losses, pred, labels: Int32Array.from(r.plan.labels.subarray(0, n)) };
}

const linf = (eps: number, steps: number, restarts = 1): PgdOptions =>
  ({ norm: "linf", eps, lo: 0, hi: 1, alpha: (2.5 * eps) / steps, steps, restarts, randomStart: true });

test("the WASM and JS counter-based hashes agree", (t) => {
  const k = runtime().k;
  for (let i = 0; i < 2000; i++) {
    const key = [Math.imul(i, 2654435761) >>> 0, i * 7, (i * 13) >>> 0, i ^ 0x5bd1];
    t.is(k.hash32(key[0], key[1], key[2], key[3]) >>> 0, hash32(key[0], key[1], key[2], key[3]));
  }
});

for (const norm of ["linf", "l2"] as const) {
  test.serial(`${norm} PGD stays inside the ε-ball and the data range`, async (t) => {
    const m = await model();
    const eps = norm === "linf" ? 0.1 : 1.5;
    const o: PgdOptions = { ...linf(eps, 7, 2), norm, alpha: norm === "linf" ? 0.03 : 0.4 };
    const { x, xadv } = attackRows(m, 0, 32, o);
    for (let r = 0; r < 32; r++) {
      let l2 = 0;
      let li = 0;
      for (let j = 0; j < 784; j++) {
        const v = xadv[r * 784 + j];
        t.true(v >= 0 && v <= 1, `pixel ${v} outside [0, 1]`);
        const d = v - x[r * 784 + j];
        l2 += d * d;
        li = Math.max(li, Math.abs(d));
      }
      if (norm === "linf") t.true(li <= eps + 1e-6, `‖δ‖∞ = ${li}`);
      else t.true(Math.sqrt(l2) <= eps * (1 + 1e-5), `‖δ‖₂ = ${Math.sqrt(l2)}`);
    }
  });
}

test.serial("PGD's loss is at least FGSM's on the same inputs, and its accuracy no higher", async (t) => {
  const m = await model();
  const eps = 0.1;
  const fgsm = attackRows(m, 0, 64, { norm: "linf", eps, lo: 0, hi: 1, alpha: eps, steps: 1, restarts: 1, randomStart: false });
  const strong = attackRows(m, 0, 64, linf(eps, 20));
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  const acc = (r: typeof fgsm) => r.pred.reduce((s, p, i) => s + (p === r.labels[i] ? 1 : 0), 0) / r.pred.length;
  t.log(`mean loss FGSM ${mean(fgsm.losses).toFixed(3)}, PGD-20 ${mean(strong.losses).toFixed(3)}; accuracy FGSM ${acc(fgsm)}, PGD-20 ${acc(strong)}`);
  t.true(mean(strong.losses) >= mean(fgsm.losses));
  t.true(acc(strong) <= acc(fgsm));
});

test.serial("restarts keep each sample's worst point: loss never below the single run", async (t) => {
  const m = await model();
  const one = attackRows(m, 0, 32, linf(0.1, 5, 1));
  const three = attackRows(m, 0, 32, linf(0.1, 5, 3));
  for (let i = 0; i < 32; i++) t.true(three.losses[i] >= one.losses[i] - 1e-6, `sample ${i}: ${three.losses[i]} < ${one.losses[i]}`);
});

test.serial("deterministic under a seed; another seed draws another start", async (t) => {
  const m = await model();
  const a = attackRows(m, 0, 16, linf(0.1, 3), 3);
  const b = attackRows(m, 0, 16, linf(0.1, 3), 3);
  const c = attackRows(m, 0, 16, linf(0.1, 3), 4);
  t.deepEqual(a.xadv, b.xadv);
  t.notDeepEqual(a.xadv, c.xadv);
});

test.serial("random starts are keyed by the sample, not the shard: one shard of 16 = two shards of 8", async (t) => {
  const m = await model();
  const whole = attackRows(m, 0, 16, linf(0.1, 3));
  const first = attackRows(m, 0, 8, linf(0.1, 3));
  const second = attackRows(m, 8, 8, linf(0.1, 3));
  const joined = new Float32Array(16 * 784);
  joined.set(first.xadv);
  joined.set(second.xadv, 8 * 784);
  t.deepEqual(whole.xadv, joined);
});

test("the monitor keeps the most robust epoch and flags PGD collapsing while FGSM rises", async (t) => {
  // A scripted engine: each check asks for PGD then FGSM accuracy.
  const script = [[0.6, 0.7], [0.7, 0.75], [0.1, 0.95]];
  const params = new Float32Array(3);
  let call = 0;
  const engine = {
    model: { params: { f32: params } },
    async attack(_d: unknown, idx: Uint32Array) {
      const [pgdAcc, fgsmAcc] = script[Math.floor(call / 2)];
      const acc = call++ % 2 === 0 ? pgdAcc : fgsmAcc;
      return { clean: [], robust: Array.from(idx, (_, i) => (i < acc * idx.length ? 1 : 0)) };
    },
  } as unknown as ShardedEngine;
  const mon = new RobustMonitor(engine, data.train, Uint32Array.from({ length: 100 }, (_, i) => i), { norm: "linf", eps: 0.3, lo: 0, hi: 1 }, 0);
  params.fill(1);
  t.like(await mon.check(1), { improved: true, collapsed: false });
  params.fill(2);
  t.like(await mon.check(2), { improved: true, collapsed: false });
  params.fill(3);
  t.like(await mon.check(3), { improved: false, collapsed: true, pgdAccuracy: 0.1 });
  t.is(mon.restoreBest(), 2);
  t.deepEqual(Array.from(params), [2, 2, 2]);
  t.is(mon.collapse?.epoch, 3);
});

test("hygiene: masking signatures produce warnings, a healthy evaluation none", async (t) => {
  const { hygieneWarnings } = await import("../src/attack/hygiene.js");
  t.deepEqual(hygieneWarnings({ samples: 100, blackBoxOnly: 1, fgsm: 0.5, pgdZeroStart: 0.4, pgdRandomStart: 0.39,
    curve: [{ eps: 0.1, robustAccuracy: 0.9 }, { eps: 0.5, robustAccuracy: 0.0 }], norm: "linf" }), []);
  const w = hygieneWarnings({ samples: 100, blackBoxOnly: 5, fgsm: 0.9, pgdZeroStart: 0.6, pgdRandomStart: 0.3,
    curve: [{ eps: 0.1, robustAccuracy: 0.5 }, { eps: 0.3, robustAccuracy: 0.6 }, { eps: 0.8, robustAccuracy: 0.4 }], norm: "linf" });
  t.is(w.length, 5, w.join("\n"));
  t.true(w.some((s) => /black-box attack broke 5 of 100/.test(s)));
  t.true(w.some((s) => /random start beats/.test(s)));
  t.true(w.some((s) => /FGSM accuracy/.test(s)));
  t.true(w.some((s) => /still 40.0 % at ε=0.8/.test(s)));
  t.true(w.some((s) => /rises from ε=0.1 to ε=0.3/.test(s)));
});

test.serial("attack(model, x, y, options): adversarial inputs and stats, the same as through the CLI's shard path", async (t) => {
  const { attack } = await import("../src/attack/api.js");
  const m = await model();
  const n = 40;
  const x = data.test.x.slice(0, n * 784);
  const y = Array.from(data.test.y.subarray(0, n));
  const r = attack(m, x, y, { attack: "pgd", eps: 0.1, steps: 10 });
  t.is(r.adversarial.length, n * 784);
  t.is(r.outcomes.length, n);
  t.true(r.robustAccuracy < r.cleanAccuracy);
  for (let i = 0; i < n * 784; i++) t.true(Math.abs(r.adversarial[i] - x[i]) <= 0.1 + 1e-6 && r.adversarial[i] >= 0 && r.adversarial[i] <= 1);
  const again = attack(m, x, y, { attack: "pgd", eps: 0.1, steps: 10 });
  t.deepEqual(again.adversarial, r.adversarial);
  t.throws(() => attack(m, x.subarray(0, 10), y), { message: /x holds 10 values/ });
});
