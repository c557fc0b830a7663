// `bulwark attack` and `bulwark saliency` end to end (compiled dist/: `npm run build` first):
// JSON fields, per-sample CSV, the ε curve's files, the suite, black-box query budgets,
// worker-count independence, and one-line errors.
import test from "ava";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { bulwark, failsWith, json, MAIN, tmp } from "./helpers/cli.js";

let modelPath = "";

let fixtureDir = "";

test.before("a small trained model", async () => {
  if (!existsSync(MAIN)) throw new Error("dist/cli/main.js is missing: run `npm run build` first");
  const dir = (fixtureDir = mkdtempSync(join(tmpdir(), "bulwark-attack-")));
  modelPath = join(dir, "m.bwk");
  const r = await bulwark(["train", "--model", "mlp", "--limit", "3000", "--test-limit", "100", "--workers", "0", "--out", modelPath, "--json", "--quiet"]);
  if (r.code !== 0) throw new Error(`training the fixture failed: ${r.stderr}`);
});

test.after.always(() => {
  if (fixtureDir) rmSync(fixtureDir, { recursive: true, force: true });
});

const A = (...args: string[]) => ["attack", "--model", modelPath, "--limit", "64", "--workers", "0", "--json", "--quiet", ...args];

test("pgd: JSON with clean and robust accuracy, the attack and ε; one CSV row per sample", async (t) => {
  const dir = tmp(t);
  const csv = join(dir, "ps.csv");
  const r = json(t, await bulwark(A("--attack", "pgd", "--eps", "0.1", "--steps", "10", "--per-sample", csv)));
  t.like(r, { attack: "pgd", eps: 0.1, norm: "linf", samples: 64, queries: null, workers: 0 });
  t.true(r.cleanAccuracy > 0.7);
  t.true(r.robustAccuracy < r.cleanAccuracy);
  t.is(typeof r.seconds, "number");
  const lines = readFileSync(csv, "utf8").trim().split("\n");
  t.is(lines[0], "index,label,cleanPrediction,adversarialPrediction,eps,linf,l2,success,queries,attack");
  t.is(lines.length, 65);
  for (const l of lines.slice(1)) t.true(Number(l.split(",")[5]) <= 0.1 + 1e-6, `L∞ norm in ${l}`);
});

test("square: queries reported and within the budget", async (t) => {
  const r = json(t, await bulwark(A("--attack", "square", "--eps", "0.2", "--queries", "300")));
  t.true(r.queries.max <= 300);
  t.is(r.queries.budget, 300);
  t.true(r.robustAccuracy < r.cleanAccuracy);
});

test("an ε list writes the curve as CSV, JSON and SVG; accuracy falls with ε", async (t) => {
  const dir = tmp(t);
  const prefix = join(dir, "curve");
  const r = json(t, await bulwark(A("--attack", "pgd", "--steps", "5", "--eps", "0.3,0,0.1", "--curve", prefix)));
  t.deepEqual(r.eps, [0, 0.1, 0.3]);
  t.is(r.robustAccuracy.length, 3);
  t.is(r.robustAccuracy[0], r.cleanAccuracy);
  t.true(r.robustAccuracy[2] <= r.robustAccuracy[1] && r.robustAccuracy[1] <= r.robustAccuracy[0]);
  t.is(readFileSync(`${prefix}.csv`, "utf8").split("\n")[0], "eps,cleanAccuracy,robustAccuracy");
  t.is(JSON.parse(readFileSync(`${prefix}.json`, "utf8")).curve.length, 3);
  t.true(readFileSync(`${prefix}.svg`, "utf8").startsWith("<svg"));
});

test("suite: stages on the samples still robust, worst case no better than PGD alone", async (t) => {
  const [s, p] = await Promise.all([
    bulwark(A("--attack", "suite", "--eps", "0.1", "--steps", "10", "--queries", "200")),
    bulwark(A("--attack", "pgd", "--eps", "0.1", "--steps", "10")),
  ]);
  const suite = json(t, s);
  const pgd = json(t, p);
  t.deepEqual(suite.stages.map((x: { attack: string }) => x.attack).slice(0, 1), ["apgd-ce"]);
  t.true(suite.robustAccuracy <= pgd.robustAccuracy);
  t.true(Array.isArray(suite.warnings));
  t.is(typeof suite.diagnostics.fgsm, "number");
});

test("0 and 2 workers give the same per-sample results", async (t) => {
  const dir = tmp(t);
  const [a, b] = [join(dir, "a.csv"), join(dir, "b.csv")];
  const args = (w: string, f: string) => ["attack", "--model", modelPath, "--limit", "96", "--attack", "apgd-ce", "--eps", "0.1", "--steps", "10", "--workers", w, "--per-sample", f, "--json", "--quiet"];
  const [ra, rb] = await Promise.all([bulwark(args("0", a)), bulwark(args("2", b))]);
  t.is(json(t, ra).robustAccuracy, json(t, rb).robustAccuracy);
  t.is(readFileSync(a, "utf8"), readFileSync(b, "utf8"));
});

test("attack errors are one line with a non-zero exit", async (t) => {
  failsWith(t, await bulwark(A("--attack", "boundary")), 2, /--attack must be one of/, "unknown attack");
  failsWith(t, await bulwark(A("--eps", "-0.1")), 1, /--eps must be a non-negative number/, "negative eps");
  failsWith(t, await bulwark(A("--attack", "square", "--shard-size", "8")), 1, /--shard-size ≥ 17/, "small shards");
  failsWith(t, await bulwark(["attack", "--model", "/nonexistent.bwk", "--json"]), 1, /cannot read model/, "missing model");
  failsWith(t, await bulwark(A("--target", "12")), 1, /--target 12 is not a class/, "bad target");
});

test("saliency writes a PNG grid of images and gradient maps", async (t) => {
  const dir = tmp(t);
  const out = join(dir, "grid.png");
  const r = json(t, await bulwark(["saliency", "--model", modelPath, "--out", out, "--count", "5", "--json"]));
  t.is(r.images.length, 5);
  const png = PNG.sync.read(readFileSync(out));
  t.is(png.width, 5 * 30 + 2);
  t.is(png.height, 2 * 30 + 2);
});

test("transfer onto the model itself reproduces the white-box result exactly", async (t) => {
  const r = json(t, await bulwark(["transfer", "--source", modelPath, "--target", modelPath, "--eps", "0.1", "--steps", "10", "--limit", "64", "--workers", "0", "--json"]));
  t.is(r.targetTransferAccuracy, r.sourceRobustAccuracy);
  t.is(r.targetCleanAccuracy, r.sourceCleanAccuracy);
  t.is(r.transferSuccessRate, 1);
});

test("steal: a surrogate from label queries agrees with the victim and its attacks transfer", async (t) => {
  const dir = tmp(t);
  const out = join(dir, "s.bwk");
  const r = json(t, await bulwark(["steal", "--victim", modelPath, "--queries", "2000", "--arch", "mlp", "--epochs", "2",
    "--transfer-limit", "64", "--transfer-eps", "0.1", "--steps", "10", "--workers", "0", "--out", out, "--json", "--quiet"]));
  t.is(r.queries, 2000);
  t.true(r.agreement >= 0.85, `agreement ${r.agreement}`);
  t.true(r.transfer.transferSuccessRate > 0.3, `transfer success ${r.transfer.transferSuccessRate}`);
  t.true(existsSync(out));
});
