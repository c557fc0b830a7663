// Model stealing: the victim is seen only through an oracle; soft answers (probabilities)
// carry more than labels, and the surrogate learns to agree with the victim.
import test from "ava";
import { loadData } from "../src/data/index.js";
import { architecture } from "../src/nn/architectures.js";
import { Model } from "../src/nn/model.js";
import { train } from "../src/train/loop.js";
import { createOptimizer } from "../src/train/optimizer.js";
import { agreement, queryVictim, trainSurrogate } from "../src/train/steal.js";

const data = loadData("mnist", { limit: 2000, testLimit: 500 });

test("labels and probabilities: answers are one-hot / distributions, and both surrogates agree with the victim", async (t) => {
  const victim = new Model(architecture("mlp")).init(1);
  await train(victim, data.train, createOptimizer(victim, { name: "adam", lr: 3e-3 }), { epochs: 2, batchSize: 64, seed: 1, lr: 3e-3, schedule: { name: "onecycle" } });
  const labels = queryVictim(victim, data.train, "labels");
  const probs = queryVictim(victim, data.train, "probs");
  for (let r = 0; r < 20; r++) {
    const l = labels.subarray(r * 10, r * 10 + 10);
    const p = probs.subarray(r * 10, r * 10 + 10);
    t.is(l.reduce((s, v) => s + v, 0), 1);
    t.true(Math.abs(p.reduce((s, v) => s + v, 0) - 1) < 1e-4);
    t.is(l.indexOf(1), p.indexOf(Math.max(...p)), "the label is the most probable class");
  }
  const agree: Record<string, number> = {};
  for (const [name, answers] of [["labels", labels], ["probs", probs]] as const) {
    const s = new Model(architecture("mlp")).init(7);
    await trainSurrogate(s, data.train, answers, { access: name, epochs: 3, batchSize: 64, lr: 3e-3, seed: 2 });
    agree[name] = agreement(s, victim, data.test);
  }
  t.log(`agreement: labels ${agree.labels}, probs ${agree.probs}`);
  t.true(agree.labels >= 0.85);
  t.true(agree.probs >= 0.85);
});
