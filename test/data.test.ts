// The dataset layer on small generated fixtures: the IDX reader's checks (each bad input is one
// line naming the file), the atomic writer, directory loading, dataset helpers, and seeded
// batching. Real MNIST / Fashion-MNIST are exercised in data-sets.test.ts.
import test, { type ExecutionContext } from "ava";
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  batchIndices,
  epochOrder,
  fromFloat,
  fromU8,
  gather,
  limit,
  loadData,
  loadIdxDirectory,
  readIdxImages,
  readIdxLabels,
  readIdxPair,
  splitValidation,
  subset,
  writeIdxImages,
  writeIdxLabels,
  IDX_NAMES,
  type Dataset,
} from "../src/data/index.js";

function tmp(t: ExecutionContext): string {
  const d = mkdtempSync(join(tmpdir(), "bulwark-data-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** n deterministic rows×cols images and labels 0..classes-1. */
function fixture(n: number, rows = 4, cols = 3, classes = 10) {
  const pixels = new Uint8Array(n * rows * cols);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37 + 11) & 0xff;
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = (i * 7) % classes;
  return { pixels, labels, rows, cols };
}

function writeDir(dir: string, nTrain = 12, nTest = 5): void {
  const tr = fixture(nTrain);
  const te = fixture(nTest);
  writeIdxImages(join(dir, IDX_NAMES.trainImages), tr.pixels, nTrain, tr.rows, tr.cols);
  writeIdxLabels(join(dir, IDX_NAMES.trainLabels), tr.labels);
  writeIdxImages(join(dir, IDX_NAMES.testImages), te.pixels, nTest, te.rows, te.cols);
  writeIdxLabels(join(dir, IDX_NAMES.testLabels), te.labels);
}

/** Asserts `fn` throws a one-line error matching `re`, and returns the message. */
function oneLine(t: ExecutionContext, fn: () => unknown, re: RegExp): string {
  const e = t.throws(fn);
  const msg = e?.message ?? "";
  t.regex(msg, re);
  t.false(msg.includes("\n"), `multi-line error: ${msg}`);
  return msg;
}

function header(words: number[]): Uint8Array {
  const b = new Uint8Array(4 * words.length);
  const dv = new DataView(b.buffer);
  words.forEach((w, i) => dv.setUint32(4 * i, w, false));
  return b;
}

// ---------------------------------------------------------------- IDX round trip and writer

test("a directory of IDX files round-trips through the writer", (t) => {
  const dir = tmp(t);
  writeDir(dir);
  const split = loadData(dir);
  const tr = fixture(12);
  t.is(split.train.n, 12);
  t.is(split.test.n, 5);
  t.deepEqual(split.train.shape, [1, 4, 3]);
  t.is(split.train.classes, 10);
  t.deepEqual([...split.train.y], [...tr.labels]);
  for (let i = 0; i < tr.pixels.length; i++) {
    if (split.train.x[i] !== Math.fround(tr.pixels[i] / 255)) return t.fail(`pixel ${i}`);
  }
  // The bytes on disk are exactly the IDX layout.
  const raw = readFileSync(join(dir, IDX_NAMES.trainImages));
  t.deepEqual([...raw.subarray(0, 16)], [...header([0x803, 12, 4, 3])]);
  t.is(raw.length, 16 + 12 * 12);
});

test("the writer leaves no temporary file behind", (t) => {
  const dir = tmp(t);
  writeDir(dir);
  t.deepEqual(readdirSync(dir).sort(), Object.values(IDX_NAMES).sort());
});

test("a failed write leaves an existing file untouched and no temporary file", (t) => {
  const dir = tmp(t);
  const file = join(dir, "train-images-idx3-ubyte");
  const { pixels } = fixture(3);
  writeIdxImages(file, pixels, 3, 4, 3);
  const before = readFileSync(file);
  // Bad arguments: refused before touching the disk.
  oneLine(t, () => writeIdxImages(file, pixels, 4, 4, 3), /train-images-idx3-ubyte: 36 pixels given for 4×4×3 = 48/);
  oneLine(t, () => writeIdxLabels(join(dir, "l"), [1, 300]), /label 300 at index 1 is not a byte/);
  // A failure after the temporary file is written (renaming onto a directory).
  const sub = join(dir, "occupied");
  mkdirSync(sub);
  writeFileSync(join(sub, "keep"), "x");
  oneLine(t, () => writeIdxLabels(sub, new Uint8Array([1, 2])), /occupied: write failed/);
  t.deepEqual(readFileSync(file), before);
  t.deepEqual(readdirSync(dir).sort(), ["occupied", "train-images-idx3-ubyte"]);
  t.deepEqual(readdirSync(sub), ["keep"]);
  // A directory that does not exist.
  oneLine(t, () => writeIdxLabels(join(dir, "nope", "l"), new Uint8Array([1])), /nope.l: write failed/);
});

test("overwriting replaces the whole file", (t) => {
  const dir = tmp(t);
  const file = join(dir, "labels");
  writeIdxLabels(file, new Uint8Array(100));
  writeIdxLabels(file, [3, 1, 4]);
  t.deepEqual([...readIdxLabels(file).labels], [3, 1, 4]);
});

// ---------------------------------------------------------------- bad input, one line each

test("wrong magic is named", (t) => {
  const dir = tmp(t);
  const file = join(dir, "train-images-idx3-ubyte");
  writeIdxLabels(file, [1, 2, 3]);
  const msg = oneLine(t, () => readIdxImages(file), /wrong magic 0x00000801 \(expected 0x00000803.*label file/);
  t.true(msg.startsWith(file));
  writeFileSync(file, Buffer.from("PK\x03\x04 not an idx file at all"));
  oneLine(t, () => readIdxImages(file), /wrong magic 0x504b0304/);
  writeFileSync(file, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]));
  oneLine(t, () => readIdxImages(file), /gzip-compressed; gunzip it first/);
});

test("truncated and oversized files are named", (t) => {
  const dir = tmp(t);
  const file = join(dir, "imgs");
  const { pixels } = fixture(5);
  writeIdxImages(file, pixels, 5, 4, 3);
  truncateSync(file, 16 + 5 * 12 - 1);
  oneLine(t, () => readIdxImages(file), /imgs: truncated \(header 5×4×3 implies 76 bytes, file has 75\)/);
  truncateSync(file, 10);
  oneLine(t, () => readIdxImages(file), /imgs: truncated \(10 bytes, header needs 16\)/);
  truncateSync(file, 2);
  oneLine(t, () => readIdxImages(file), /imgs: truncated \(2 bytes, no IDX header\)/);
  writeFileSync(file, Buffer.concat([header([0x803, 1, 2, 2]), Buffer.alloc(5)]));
  oneLine(t, () => readIdxImages(file), /imgs: size mismatch \(header 1×2×2 implies 20 bytes, file has 21\)/);
});

test("zero and absurd dimensions are named", (t) => {
  const dir = tmp(t);
  const file = join(dir, "imgs");
  writeFileSync(file, header([0x803, 0, 28, 28]));
  oneLine(t, () => readIdxImages(file), /imgs: zero dimension in header \(0×28×28\)/);
  writeFileSync(file, header([0x803, 0xffffffff, 0xffffffff, 28]));
  oneLine(t, () => readIdxImages(file), /imgs: absurd dimensions 4294967295×4294967295×28/);
  writeFileSync(file, Buffer.concat([header([0x803, 1, 1, 100000]), Buffer.alloc(100000)]));
  oneLine(t, () => readIdxImages(file), /imgs: absurd image size 1×100000/);
});

test("labels outside the class range are named", (t) => {
  const dir = tmp(t);
  const file = join(dir, "labels");
  writeIdxLabels(file, [0, 9, 12, 3]);
  oneLine(t, () => readIdxLabels(file), /labels: label 12 at index 2 is outside 0\.\.9/);
  writeIdxLabels(file, [0, 1, 2, 3]);
  oneLine(t, () => readIdxLabels(file, 3), /label 3 at index 3 is outside 0\.\.2/);
  t.is(readIdxLabels(file, 4).n, 4);
});

test("an image/label count mismatch is named", (t) => {
  const dir = tmp(t);
  const { pixels } = fixture(5);
  writeIdxImages(join(dir, "i"), pixels, 5, 4, 3);
  writeIdxLabels(join(dir, "l"), [1, 2, 3, 4]);
  oneLine(t, () => readIdxPair(join(dir, "i"), join(dir, "l")), /l: count mismatch: 4 labels for 5 images in .*i$/);
});

test("missing files and directories are named", (t) => {
  const dir = tmp(t);
  oneLine(t, () => readIdxImages(join(dir, "absent")), /absent: no such file/);
  oneLine(t, () => loadIdxDirectory(join(dir, "nodir")), /nodir: no such data directory/);
  writeDir(dir);
  rmSync(join(dir, IDX_NAMES.testImages));
  rmSync(join(dir, IDX_NAMES.testLabels));
  oneLine(t, () => loadData(dir), /missing test set: t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte/);
  rmSync(join(dir, IDX_NAMES.trainLabels));
  oneLine(t, () => loadData(dir), /missing files: train-labels-idx1-ubyte, t10k-images/);
  oneLine(t, () => loadData(join(dir, IDX_NAMES.trainImages)), /not a directory/);
});

test("a directory holding only .gz files says to gunzip them", (t) => {
  const dir = tmp(t);
  for (const f of Object.values(IDX_NAMES)) writeFileSync(join(dir, f + ".gz"), Buffer.from([0x1f, 0x8b]));
  oneLine(t, () => loadData(dir), /only gzipped files found .*; gunzip them first/);
});

test("a bad file inside a directory fails the whole load", (t) => {
  const dir = tmp(t);
  writeDir(dir);
  writeIdxLabels(join(dir, IDX_NAMES.testLabels), [1, 2, 3, 4, 10]);
  oneLine(t, () => loadData(dir), /t10k-labels-idx1-ubyte: label 10 at index 4 is outside 0\.\.9/);
});

test("an unknown dataset spec lists the options", (t) => {
  oneLine(t, () => loadData("cifar"), /unknown dataset 'cifar' \(expected mnist, fashion-mnist \(alias fashion\), or a directory/);
});

// ---------------------------------------------------------------- datasets

function small(n = 10): Dataset {
  const { pixels, labels } = fixture(n, 2, 2);
  return fromU8("small", pixels, labels, [1, 2, 2]);
}

test("fromFloat rejects non-finite values and bad labels", (t) => {
  const x = new Float32Array(8).fill(0.5);
  t.is(fromFloat("syn", x, [0, 1], [1, 2, 2], 2).n, 2);
  x[5] = NaN;
  oneLine(t, () => fromFloat("syn", x, [0, 1], [1, 2, 2]), /syn: non-finite value NaN in sample 1 \(offset 1\)/);
  x[5] = -Infinity;
  oneLine(t, () => fromFloat("syn", x, [0, 1], [1, 2, 2]), /non-finite value -Infinity/);
  x[5] = 0;
  oneLine(t, () => fromFloat("syn", x, [0, 2], [1, 2, 2], 2), /syn: label 2 at index 1 is outside 0\.\.1/);
  oneLine(t, () => fromFloat("syn", x, [0, 1.5], [1, 2, 2]), /label 1.5 at index 1/);
  oneLine(t, () => fromFloat("syn", x, [0, -1], [1, 2, 2]), /label -1 at index 1/);
  oneLine(t, () => fromFloat("syn", x, [0, 1, 1], [1, 2, 2]), /8 values for 3 samples/);
  oneLine(t, () => fromFloat("syn", x, [0, 1], [1, 0, 4] as [number, number, number]), /bad sample shape/);
});

test("subset, limit and splitValidation", (t) => {
  const ds = small(10);
  const s = subset(ds, [3, 0, 3]);
  t.is(s.n, 3);
  t.deepEqual([...s.y], [ds.y[3], ds.y[0], ds.y[3]]);
  t.deepEqual([...s.x.subarray(0, 4)], [...ds.x.subarray(12, 16)]);
  oneLine(t, () => subset(ds, [10]), /small: index 10 is outside 0\.\.9/);

  const l = limit(ds, 4);
  t.is(l.n, 4);
  t.deepEqual([...l.y], [...ds.y.subarray(0, 4)]);
  t.is(l.x.length, 16);
  l.x[0] = 7; // a copy: the original is untouched
  t.not(ds.x[0], 7);
  oneLine(t, () => limit(ds, 11), /small: limit 11 exceeds the 10 samples available/);
  oneLine(t, () => limit(ds, 0), /bad limit 0/);

  const a = splitValidation(ds, 0.3, 42);
  const b = splitValidation(ds, 0.3, 42);
  const c = splitValidation(ds, 0.3, 43);
  t.is(a.validation.n, 3);
  t.is(a.train.n, 7);
  t.deepEqual(a.validation.x, b.validation.x);
  t.deepEqual(a.train.y, b.train.y);
  // Every sample lands in exactly one part (the fixture's samples are distinct).
  const key = (d: Dataset, i: number) => [...d.x.subarray(i * 4, i * 4 + 4)].join(",");
  const all = new Set<string>();
  for (const d of [a.train, a.validation]) for (let i = 0; i < d.n; i++) all.add(key(d, i));
  t.is(all.size, 10);
  // A different seed picks a different validation set (checked over a few seeds to avoid a fluke).
  const picks = new Set([a, c, splitValidation(ds, 0.3, 44), splitValidation(ds, 0.3, 45)].map((s) => key(s.validation, 0) + key(s.validation, 1)));
  t.true(picks.size > 1);
  oneLine(t, () => splitValidation(ds, 1, 1), /validation fraction 1 is not in \(0,1\)/);
  oneLine(t, () => splitValidation(ds, 0.01, 1), /leaves an empty part/);
});

test("loadData applies limit and testLimit", (t) => {
  const dir = tmp(t);
  writeDir(dir, 12, 5);
  const s = loadData(dir, { limit: 7, testLimit: 2 });
  t.is(s.train.n, 7);
  t.is(s.test.n, 2);
  t.is(s.train.x.length, 7 * 12);
  oneLine(t, () => loadData(dir, { limit: 13 }), /limit 13 exceeds the 12 samples/);
});

// ---------------------------------------------------------------- batches

test("epochOrder is a deterministic permutation that differs by epoch and seed", (t) => {
  const n = 1000;
  const a = epochOrder(n, 7, 0);
  t.deepEqual(a, epochOrder(n, 7, 0));
  t.deepEqual([...a].sort((p, q) => p - q), Array.from({ length: n }, (_, i) => i));
  t.notDeepEqual(a, epochOrder(n, 7, 1));
  t.notDeepEqual(a, epochOrder(n, 8, 0));
  // Independent of which epochs were asked for before (resuming from a checkpoint).
  epochOrder(n, 7, 5);
  t.deepEqual(epochOrder(n, 7, 1), epochOrder(n, 7, 1));
  t.is(epochOrder(0, 1, 0).length, 0);
  oneLine(t, () => epochOrder(10, 1, -1), /bad epoch -1/);
});

test("batches cover every index exactly once", (t) => {
  const order = epochOrder(103, 1, 2);
  const batches = batchIndices(order, 10, false);
  t.is(batches.length, 11);
  t.is(batches[10].length, 3);
  const seen = new Uint8Array(103);
  for (const b of batches) for (const i of b) seen[i]++;
  t.true(seen.every((c) => c === 1));
  const dropped = batchIndices(order, 10, true);
  t.is(dropped.length, 10);
  t.true(dropped.every((b) => b.length === 10));
  t.is(batchIndices(epochOrder(100, 1, 0), 10, true).length, 10);
  oneLine(t, () => batchIndices(order, 0, false), /bad batch size 0/);
});

test("gather copies rows and labels into caller-provided arrays", (t) => {
  const ds = small(10);
  const xOut = new Float32Array(3 * 4 + 5).fill(-1); // larger than needed: the tail is untouched
  const yOut = new Int32Array(4).fill(-1);
  gather(ds, new Uint32Array([9, 2, 5]), xOut, yOut);
  t.deepEqual([...xOut.subarray(0, 4)], [...ds.x.subarray(36, 40)]);
  t.deepEqual([...xOut.subarray(4, 8)], [...ds.x.subarray(8, 12)]);
  t.deepEqual([...xOut.subarray(8, 12)], [...ds.x.subarray(20, 24)]);
  t.true(xOut.subarray(12).every((v) => v === -1));
  t.deepEqual([...yOut], [ds.y[9], ds.y[2], ds.y[5], -1]);
  oneLine(t, () => gather(ds, [10], xOut, yOut), /gather: index 10 is outside 0\.\.9/);
  oneLine(t, () => gather(ds, [0, 1, 2, 3, 4], xOut, yOut), /xOut holds 17 values, needs 20/);
});
