// `bulwark poison` end to end (compiled dist/): a poisoned IDX directory that `train --data DIR`
// reads, its manifest, and one-line errors that write nothing.
import test from "ava";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bulwark, failsWith, json, MAIN, tmp } from "./helpers/cli.js";

test.before(() => {
  if (!existsSync(MAIN)) throw new Error("dist/cli/main.js is missing: run `npm run build` first");
});

test("poison writes IDX files and a manifest that train reads back", async (t) => {
  const dir = join(tmp(t), "p");
  const r = json(t, await bulwark(["poison", "--data", "mnist", "--attack", "backdoor", "--fraction", "0.05", "--target", "7", "--limit", "2000", "--out", dir, "--json"]));
  t.is(r.poisonedCount, 100);
  const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  t.like(m, { attack: "backdoor", target: 7, fraction: 0.05, trainSamples: 2000 });
  t.is(m.poisoned.length, 100);
  const tr = json(t, await bulwark(["train", "--data", dir, "--model", "mlp", "--workers", "0", "--test-limit", "200", "--json", "--quiet"]));
  t.is(tr.trainSamples, 2000);
});

test("poison errors: missing target, fraction above 1, a non-empty --out", async (t) => {
  const base = tmp(t);
  failsWith(t, await bulwark(["poison", "--attack", "backdoor", "--limit", "100", "--out", join(base, "a")]), 1, /needs --target/, "no target");
  failsWith(t, await bulwark(["poison", "--fraction", "1.5", "--target", "1", "--limit", "100", "--out", join(base, "b")]), 1, /at most 1/, "fraction");
  const full = join(base, "c");
  mkdirSync(full);
  writeFileSync(join(full, "keep.txt"), "x");
  failsWith(t, await bulwark(["poison", "--target", "1", "--limit", "100", "--out", full]), 1, /not an empty directory/, "non-empty");
  t.deepEqual(readdirSync(full), ["keep.txt"]);
  t.false(existsSync(join(base, "a")) || existsSync(join(base, "b")));
});
