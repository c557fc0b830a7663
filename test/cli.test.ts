// The `bulwark` command end to end, as a child process (`node bin/bulwark.js`, which runs the
// compiled dist/cli/main.js: `npm run build` first). Help, train/eval/info with --json,
// determinism, checkpoint and resume, progress lines, and every error as one stderr line with
// exit code 2 (usage) or 1 (anything else) and nothing written to --out.
import test, { type ExecutionContext } from "ava";
import { execFile, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "../src/io/bwk.js";
import { BIN, bulwark, childEnv, failsWith, json, MAIN, ROOT, slot, tmp, type Result } from "./helpers/cli.js";

test.before("the CLI is built", (t) => {
  if (!existsSync(MAIN)) throw new Error(`${relative(ROOT, MAIN)} is missing: run \`npm run build\` before test/cli.test.ts`);
  if (!existsSync(join(ROOT, "build", "bulwark.wasm"))) throw new Error("build/bulwark.wasm is missing: run `npm run build` first");
  // Warn (not fail) when dist/ is older than the sources it is built from.
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, f.name);
      if (f.isDirectory()) walk(p);
      else if (p.endsWith(".ts")) {
        const js = join(ROOT, "dist", relative(join(ROOT, "src"), p)).replace(/\.ts$/, ".js");
        if (!existsSync(js) || statSync(js).mtimeMs < statSync(p).mtimeMs) stale.push(relative(ROOT, p));
      }
    }
  };
  walk(join(ROOT, "src"));
  if (stale.length) t.log(`warning: dist/ is older than ${stale.join(", ")}; run \`npm run build:ts\``);
});

// ---------------------------------------------------------------------------------------------
// One trained model shared by several tests.

const TRAIN = ["train", "--data", "mnist", "--model", "mlp", "--epochs", "1", "--limit", "2000", "--test-limit", "500"];

let trained: Promise<{ dir: string; out: string; result: Result }> | undefined;
const sharedDir = mkdtempSync(join(tmpdir(), "bulwark-cli-shared-"));
test.after.always(() => rmSync(sharedDir, { recursive: true, force: true }));

function trainOnce() {
  trained ??= (async () => {
    const out = join(sharedDir, "m.bwk");
    const result = await bulwark([...TRAIN, "--out", out, "--json", "--quiet"]);
    return { dir: sharedDir, out, result };
  })();
  return trained;
}

// ---------------------------------------------------------------------------------------------
// Help

for (const args of [["--help"], ["train", "--help"], ["eval", "--help"], ["info", "--help"], ["main", "--help"], ["help", "train"]]) {
  test(`${args.join(" ")} prints usage and exits 0`, async (t) => {
    const r = await bulwark(args);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /Usage: bulwark/);
    t.is(r.stderr, "");
    const cmd = args.find((a) => !a.startsWith("-") && a !== "help");
    if (cmd) t.regex(r.stdout, new RegExp(`Usage: bulwark ${cmd}`));
    else for (const c of ["train", "eval", "info", "main"]) t.regex(r.stdout, new RegExp(`\\n\\s+${c}\\b`));
    if (cmd === "train" || cmd === "main") for (const o of ["--epochs", "--batch-size", "--lr", "--seed", "--out", "--checkpoint", "--resume"]) t.true(r.stdout.includes(o), o);
  });
}

// ---------------------------------------------------------------------------------------------
// train / eval / info

test("train --json --quiet prints one JSON object and writes the model file", async (t) => {
  const { out, result } = await trainOnce();
  const s = json(t, result);
  t.is(result.stderr, "", "--quiet: nothing on stderr");
  for (const k of ["testAccuracy", "trainSeconds", "samplesPerSecond"]) t.is(typeof s[k], "number", k);
  t.true(s.testAccuracy > 0.5 && s.testAccuracy <= 1, `accuracy ${s.testAccuracy}`);
  t.true(s.trainSeconds > 0);
  t.true(s.samplesPerSecond > 0);
  t.is(s.trainSamples, 2000);
  t.is(s.testSamples, 500);
  t.is(s.parameterCount, 269322);
  t.is(s.out, out);
  t.true(existsSync(out));
  t.is(loadModel(out).weightsHash, s.weightsHash, "file holds the weights train reported");
  t.deepEqual(readdirSync(dirname(out)).filter((f) => f.endsWith(".tmp")), []);
  t.log(`mlp, 2000 samples, 1 epoch: test accuracy ${s.testAccuracy} on 500, ${Math.round(s.samplesPerSecond)} samples/s`);
});

test("eval --json reports the same test accuracy as train", async (t) => {
  const { out, result } = await trainOnce();
  const s = json(t, result);
  const e = json(t, await bulwark(["eval", "--model", out, "--data", "mnist", "--limit", "500", "--json"]));
  t.is(e.testAccuracy, s.testAccuracy);
  t.is(e.testSamples, 500);
  t.is(e.weightsHash, s.weightsHash);
  t.is(e.architecture, "mlp");
  // Another batch size classifies the same samples (count may differ only on an exact tie).
  const e7 = json(t, await bulwark(["eval", "--model", out, "--limit", "500", "--batch-size", "7", "--json"]));
  t.true(Math.abs(e7.correct - e.correct) <= 1, `${e7.correct} vs ${e.correct}`);
  // Human output.
  const h = await bulwark(["eval", "--model", out, "--limit", "500"]);
  t.is(h.code, 0);
  t.regex(h.stdout, /clean test accuracy \d+\.\d\d %/);
});

test("info --json: architecture, parameter count and the weights hash train reported", async (t) => {
  const { out, result } = await trainOnce();
  const s = json(t, result);
  const i = json(t, await bulwark(["info", out, "--json"]));
  t.is(i.architecture.name, "mlp");
  t.deepEqual(i.architecture.inputShape, [1, 28, 28]);
  t.is(i.parameterCount, 269322);
  t.is(i.weightsHash, s.weightsHash);
  t.is(i.bytes, statSync(out).size);
  t.is(i.architecture.layers.reduce((n: number, l: { parameters: number }) => n + l.parameters, 0), 269322);
  const h = await bulwark(["info", out]);
  t.is(h.code, 0);
  t.regex(h.stdout, /mlp, 269322 parameters, input 1×28×28/);
  t.true(h.stdout.includes(s.weightsHash));
});

test("two identical train runs give the same weightsHash; another --seed a different one", async (t) => {
  const { result } = await trainOnce();
  const first = json(t, result);
  const [again, seeded] = await Promise.all([
    bulwark([...TRAIN, "--json", "--quiet"]),
    bulwark([...TRAIN, "--seed", "1", "--json", "--quiet"]),
  ]);
  t.is(json(t, again).weightsHash, first.weightsHash);
  t.is(json(t, again).testAccuracy, first.testAccuracy);
  t.not(json(t, seeded).weightsHash, first.weightsHash);
});

test("without --quiet and not on a TTY, progress goes to stderr as plain lines", async (t) => {
  const r = await bulwark(["train", "--model", "mlp", "--limit", "1000", "--test-limit", "100", "--json"]);
  json(t, r);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  const progress = lines.filter((l) => /%/.test(l));
  t.true(progress.length >= 2, `progress lines:\n${r.stderr}`);
  t.true(progress.some((l) => /100%/.test(l)), "ends at 100 %");
  t.true(progress.every((l) => l.startsWith("train mlp")), r.stderr);
  t.false(/\x1b\[/.test(r.stderr), "no terminal escape codes");
  t.false(/\r/.test(r.stderr), "no carriage returns");
});

// ---------------------------------------------------------------------------------------------
// Errors: one stderr line, exit 2 for usage errors, 1 otherwise, nothing written.

const SMALL = ["--model", "mlp", "--limit", "200", "--test-limit", "100"];

const USAGE: [string, string[], RegExp][] = [
  ["unknown model name", ["train", "--model", "resnet"], /--model must be one of mlp, cnn-small, cnn-large, got 'resnet'/],
  ["negative --epochs", ["train", ...SMALL, "--epochs", "-1"], /--epochs/],
  ["fractional --epochs", ["train", ...SMALL, "--epochs", "1.5"], /--epochs/],
  ["zero --batch-size", ["train", ...SMALL, "--batch-size", "0"], /--batch-size/],
  ["negative --batch-size", ["train", ...SMALL, "--batch-size", "-8"], /--batch-size/],
  ["non-numeric --lr", ["train", ...SMALL, "--lr", "fast"], /--lr must be a number, got 'fast'/],
  ["zero --lr", ["train", ...SMALL, "--lr", "0"], /--lr must be positive/],
  ["negative --lr", ["train", ...SMALL, "--lr", "-0.1"], /--lr/],
  ["non-numeric --seed", ["train", ...SMALL, "--seed", "abc"], /--seed/],
  ["unknown option", ["train", ...SMALL, "--bogus"], /unknown option '--bogus'/],
  ["unknown optimiser", ["train", ...SMALL, "--optimizer", "lbfgs"], /--optimizer must be one of adam, sgd/],
  ["unknown schedule", ["train", ...SMALL, "--schedule", "cosine"], /--schedule/],
  ["unknown command", ["sweep"], /unknown command 'sweep'/],
  ["eval without --model", ["eval"], /required option '--model/],
  ["info without a file", ["info"], /missing required argument/],
  ["unknown objective", ["train", ...SMALL, "--objective", "mart"], /--objective must be one of standard, fgsm-rs, pgd, trades/],
  ["bad --workers", ["train", ...SMALL, "--workers", "many"], /--workers must be 'auto' or a non-negative integer/],
  ["negative --eps", ["train", ...SMALL, "--eps", "-0.1"], /--eps/],
  ["unknown --norm", ["train", ...SMALL, "--norm", "l1"], /--norm must be one of linf, l2/],
  ["zero --pgd-steps", ["train", ...SMALL, "--pgd-steps", "0"], /--pgd-steps/],
];

for (const [what, args, re] of USAGE) {
  test(`usage error (exit 2): ${what}`, async (t) => {
    const dir = tmp(t);
    const out = join(dir, "m.bwk");
    const r = await bulwark([...args, ...(args[0] === "train" ? ["--out", out] : [])]);
    failsWith(t, r, 2, re, what);
    t.deepEqual(readdirSync(dir), [], "nothing written");
  });
}

test("usage error (exit 2): zero --epochs", async (t) => {
  const dir = tmp(t);
  const out = join(dir, "m.bwk");
  const r = await bulwark(["train", ...SMALL, "--epochs", "0", "--out", out]);
  failsWith(t, r, 2, /--epochs/, "zero --epochs");
  t.deepEqual(readdirSync(dir), [], "nothing written");
});

test("runtime errors (exit 1): missing or corrupt model files", async (t) => {
  const dir = tmp(t);
  const missing = join(dir, "nope.bwk");
  failsWith(t, await bulwark(["eval", "--model", missing, "--limit", "10"]), 1, /bulwark: error: .*nope\.bwk: cannot read model \(no such file\)/, "eval missing");
  failsWith(t, await bulwark(["info", missing]), 1, /nope\.bwk: cannot read model \(no such file\)/, "info missing");
  const garbage = join(dir, "garbage.bwk");
  writeFileSync(garbage, "this is not a model file, just some text that is long enough\n");
  failsWith(t, await bulwark(["info", garbage]), 1, /garbage\.bwk: not a bulwark model \(wrong magic bytes\)/, "info garbage");
  // A real model with one byte flipped in the weights.
  const { out } = await trainOnce();
  const buf = readFileSync(out);
  buf[buf.length - 1000] ^= 0x40;
  const corrupt = join(dir, "corrupt.bwk");
  writeFileSync(corrupt, buf);
  failsWith(t, await bulwark(["eval", "--model", corrupt, "--limit", "10"]), 1, /corrupt\.bwk: checksum mismatch/, "eval corrupt");
  failsWith(t, await bulwark(["info", corrupt, "--json"]), 1, /checksum mismatch/, "info corrupt");
  const truncated = join(dir, "truncated.bwk");
  writeFileSync(truncated, readFileSync(out).subarray(0, 5000));
  failsWith(t, await bulwark(["eval", "--model", truncated]), 1, /truncated\.bwk: truncated file/, "eval truncated");
  failsWith(t, await bulwark(["train", ...SMALL, "--resume", truncated]), 1, /truncated file/, "resume truncated");
});

test("runtime errors (exit 1): unwritable --out, unknown dataset; nothing written", async (t) => {
  const dir = tmp(t);
  const out = join(dir, "m.bwk");
  failsWith(t, await bulwark(["train", ...SMALL, "--out", join(dir, "no", "such", "dir", "m.bwk")]), 1,
    /cannot write .*m\.bwk: directory .* does not exist/, "missing directory");
  const file = join(dir, "file.txt");
  writeFileSync(file, "x");
  failsWith(t, await bulwark(["train", ...SMALL, "--out", join(file, "m.bwk")]), 1, /cannot write .*not a directory/, "parent is a file");
  failsWith(t, await bulwark(["train", ...SMALL, "--out", dir]), 1, /cannot write .*is a directory|cannot write/, "out is a directory");
  failsWith(t, await bulwark(["train", ...SMALL, "--checkpoint", join(dir, "x", "ck.bwk"), "--out", out]), 1, /cannot write .*ck\.bwk/, "checkpoint dir missing");
  if (process.getuid?.() !== 0) {
    const ro = join(dir, "ro");
    rmSync(ro, { force: true, recursive: true });
    await import("node:fs").then((fs) => fs.mkdirSync(ro));
    chmodSync(ro, 0o555);
    t.teardown(() => chmodSync(ro, 0o755));
    failsWith(t, await bulwark(["train", ...SMALL, "--out", join(ro, "m.bwk")]), 1, /not writable/, "read-only directory");
    t.deepEqual(readdirSync(ro), []);
  } else {
    t.log("running as root: the read-only-directory case is skipped (root can write anywhere)");
  }
  failsWith(t, await bulwark(["train", ...SMALL, "--data", "imagenet", "--out", out]), 1, /unknown dataset 'imagenet'/, "unknown dataset");
  failsWith(t, await bulwark(["eval", "--model", out, "--data", "imagenet"]), 1, /cannot read model|unknown dataset/, "eval unknown dataset");
  failsWith(t, await bulwark(["train", ...SMALL, "--data", join(dir, "empty-dir-that-does-not-exist"), "--out", out]), 1, /.+/, "dataset path missing");
  t.deepEqual(readdirSync(dir).sort(), ["file.txt"], "no model and no temporary files written");
});

test("adversarial train --json reports robust accuracy, its method and the worker count; 0 and 2 workers agree", async (t) => {
  const args = ["train", "--model", "mlp", "--objective", "pgd", "--eps", "0.1", "--pgd-steps", "3", "--limit", "512", "--test-limit", "100",
    "--robust-limit", "50", "--robust-steps", "5", "--monitor-samples", "64", "--batch-size", "64", "--shard-size", "32", "--json", "--quiet"];
  const [inline, pooled] = await Promise.all([bulwark([...args, "--workers", "0"]), bulwark([...args, "--workers", "2"])]);
  const a = json(t, inline);
  const b = json(t, pooled);
  t.is(a.workers, 0);
  t.is(b.workers, 2);
  t.is(typeof a.robustAccuracy, "number");
  t.true(a.robustAccuracy <= a.testAccuracy + 0.1);
  t.like(a.robustMethod, { attack: "pgd", norm: "linf", eps: 0.1, steps: 5, samples: 50 });
  t.is(a.monitor.history.length, 1);
  t.is(a.weightsHash, b.weightsHash, "in-process and pooled training give the same weights");
  t.is(a.robustAccuracy, b.robustAccuracy);
});

test("--shard-size larger than --batch-size and --val-fraction ≥ 1 are refused", async (t) => {
  failsWith(t, await bulwark(["train", ...SMALL, "--batch-size", "16", "--shard-size", "32"]), 1, /--shard-size 32 is larger than --batch-size 16/, "shard > batch");
  failsWith(t, await bulwark(["train", ...SMALL, "--objective", "pgd", "--val-fraction", "1"]), 1, /--val-fraction must be below 1/, "val fraction");
});

// ---------------------------------------------------------------------------------------------
// Checkpoints

const CK = ["train", "--model", "mlp", "--limit", "600", "--test-limit", "100", "--batch-size", "50", "--json", "--quiet"];

test("--checkpoint after 1 epoch, then --epochs 2 --resume, equals 2 epochs straight (constant schedule)", async (t) => {
  // With the one-cycle schedule the learning rate depends on the total number of epochs, so
  // only schedules that do not can be extended (the next test checks the refusal).
  const dir = tmp(t);
  const ck = join(dir, "ck.bwk");
  const ckArgs = [...CK, "--schedule", "constant"];
  const [straight, first] = await Promise.all([
    bulwark([...ckArgs, "--epochs", "2"]),
    bulwark([...ckArgs, "--epochs", "1", "--checkpoint", ck]),
  ]);
  json(t, first);
  t.true(existsSync(ck));
  const resumed = await bulwark([...ckArgs, "--epochs", "2", "--resume", ck]);
  t.is(resumed.code, 0, resumed.stderr);
  t.is(json(t, resumed).weightsHash, json(t, straight).weightsHash);
});

test("extending a one-cycle run with --resume is refused with a clear error", async (t) => {
  const dir = tmp(t);
  const ck = join(dir, "ck.bwk");
  json(t, await bulwark([...CK, "--epochs", "1", "--checkpoint", ck]));
  failsWith(t, await bulwark([...CK, "--epochs", "2", "--resume", ck]), 1, /one-cycle schedule and the ε warm-up cannot be extended/, "onecycle extend");
  failsWith(t, await bulwark([...CK, "--epochs", "1", "--resume", ck]), 1, /nothing left to train/, "already done");
  failsWith(t, await bulwark([...CK, "--epochs", "1", "--seed", "5", "--resume", ck]), 1, /different options/, "other options");
});

test("an interrupted run (SIGINT) resumes from its checkpoint to the same weights as a straight run", async (t) => {
  const dir = tmp(t);
  const ck = join(dir, "ck.bwk");
  const out = join(dir, "m.bwk");
  const args = ["train", "--model", "mlp", "--limit", "3000", "--test-limit", "100", "--epochs", "2", "--json", "--quiet"];
  const straight = bulwark(args);
  // Start the run, wait until the first epoch's checkpoint lands, then ask it to stop.
  const interrupted = await slot(() => new Promise<Result>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, "--checkpoint", ck, "--out", out], { cwd: ROOT, env: childEnv() });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const poll = setInterval(() => {
      if (existsSync(ck)) {
        clearInterval(poll);
        child.kill("SIGINT");
      }
    }, 2);
    child.on("close", (code) => {
      clearInterval(poll);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  }));
  t.is(interrupted.code, 130, `exit code (stderr: ${interrupted.stderr})`);
  t.is(interrupted.stdout, "");
  const last = interrupted.stderr.trim().split("\n").pop() ?? "";
  t.regex(last, /^bulwark: error: interrupted after 1 complete epoch\(s\); resume with --resume .*ck\.bwk$/);
  t.false(existsSync(out), "an interrupted run writes no --out file");
  const info = loadModel(ck).meta?.checkpoint as { epoch: number };
  t.is(info.epoch, 1);
  const resumed = json(t, await bulwark([...args, "--resume", ck, "--checkpoint", ck]));
  t.is(resumed.resumedFromEpoch, 1);
  t.is(resumed.weightsHash, json(t, await straight).weightsHash);
  t.is((loadModel(ck).meta?.checkpoint as { epoch: number }).epoch, 2);
});

test("--resume refuses a checkpoint written with other options, and a plain model file", async (t) => {
  const dir = tmp(t);
  const ck = join(dir, "ck.bwk");
  const plain = join(dir, "plain.bwk");
  json(t, await bulwark([...CK, "--epochs", "1", "--checkpoint", ck, "--out", plain]));
  failsWith(t, await bulwark([...CK, "--epochs", "1", "--lr", "0.01", "--resume", ck]), 1, /checkpoint was written with different options/, "other lr");
  failsWith(t, await bulwark([...CK, "--epochs", "1", "--resume", plain]), 1, /not a training checkpoint/, "plain model");
  failsWith(t, await bulwark(["train", "--model", "cnn-small", "--limit", "600", "--test-limit", "100", "--batch-size", "50", "--resume", ck]), 1,
    /differs from the model being trained/, "other architecture");
});
