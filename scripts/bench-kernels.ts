// Kernel benchmarks: our WASM kernels beside tfjs-backend-wasm (XNNPACK) in the same process.
//
//   npx tsx scripts/bench-kernels.ts                 all sections, text tables
//   npx tsx scripts/bench-kernels.ts --only gemm     selected sections (comma-separated)
//   npx tsx scripts/bench-kernels.ts --json          one JSON document on stdout
//
// Options of the gemm section:
//   --shapes 512x512x512,128x784x10   M×K×N list, optionally with forms: 10x128x256:tn
//                                    presets: train (default: MNIST training shapes + 512³),
//                                    mlp (the GEMMs of one 784-256-256-10 MLP step, batch 128)
//   --forms nn,nt,tn                  which transpose forms (default all three)
//   --impls plain,relaxed,tfjs        which implementations (default all that load)
//   --quick                           fewer repetitions (a rough number in a few seconds)
//
// Each section is a function that returns a SectionResult; add new ones to SECTIONS.
// Every implementation's result is checked against a float64 reference before it is timed,
// and a section exits non-zero (after printing) when a check fails.
//
// Timing is noisy on a shared machine: after a warm-up (V8 tiers WASM up in the background),
// the implementations of one row are timed in interleaved rounds, and each number is the
// best batch mean. Compare ratios within one run rather than absolute numbers across runs.
import { Runtime } from "../src/core/runtime.js";
import { Arena } from "../src/core/arena.js";
import { relaxedSimdAvailable } from "../src/core/module.js";
import { Stream } from "../src/core/random.js";
import { tfjsWasm, tfjsWasmFeatures, type Tf } from "../test/helpers/tfjs.js";
import { Model } from "../src/nn/model.js";
import { benchTrain, formatTrainRows } from "./bench-train.js";

// ---------------------------------------------------------------------------------------
// Command line and shared helpers

interface Options {
  json: boolean;
  only: string[] | null;
  quick: boolean;
  args: Map<string, string>;
}

function parseArgs(argv: string[]): Options {
  const args = new Map<string, string>();
  let json = false;
  let quick = false;
  let only: string[] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--quick") quick = true;
    else if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      let key: string;
      let value: string;
      if (eq >= 0) {
        key = a.slice(2, eq);
        value = a.slice(eq + 1);
      } else {
        key = a.slice(2);
        value = argv[++i] ?? "";
      }
      if (key === "only") only = value.split(",").map((s) => s.trim()).filter(Boolean);
      else args.set(key, value);
    } else {
      throw new Error(`unexpected argument '${a}'`);
    }
  }
  return { json, only, quick, args };
}

interface SectionResult {
  section: string;
  /** Machine-readable rows (also what --json prints). */
  rows: Record<string, unknown>[];
  /** Extra facts about the run (implementations, versions, summary figures). */
  meta: Record<string, unknown>;
  /** Human-readable report. */
  text: string;
  /** False when a correctness check failed. */
  ok: boolean;
}

interface Section {
  name: string;
  describe: string;
  run(opts: Options): Promise<SectionResult>;
}

interface Timed {
  call: () => void;
  /** Calls per timed batch. */
  inner: number;
  /** Best seconds per call so far. */
  best: number;
}

/** Warms `fn` up and sizes its timed batches (V8 tiers hot WASM up in the background, and
 * the first calls also fault pages in, so it is called for a while first). */
function prepare(fn: () => void, quick: boolean): Timed {
  const warm = quick ? 10 : 40;
  const t0 = performance.now();
  let calls = 0;
  do {
    fn();
    calls++;
  } while (performance.now() - t0 < warm);
  const once = Math.max((performance.now() - t0) / 1000 / calls, 1e-7);
  const batchSeconds = quick ? 0.01 : 0.02;
  return { call: fn, inner: Math.max(1, Math.round(batchSeconds / once)), best: once };
}

/**
 * Times several implementations of the same operation in interleaved rounds, so that a
 * burst of load from another process hits all of them alike; keeps each one's best batch
 * mean. Implementations slower than 50 ms a call get fewer rounds.
 */
function timeInterleaved(ts: Timed[], quick: boolean): void {
  const rounds = quick ? 4 : 12;
  for (let r = 0; r < rounds; r++) {
    for (const t of ts) {
      if (r >= 3 && t.best > 0.05) continue;
      const t0 = performance.now();
      for (let i = 0; i < t.inner; i++) t.call();
      t.best = Math.min(t.best, (performance.now() - t0) / 1000 / t.inner);
    }
  }
}

function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ");
  return [line(header), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line)].join("\n");
}

function geomean(xs: number[]): number {
  const v = xs.filter((x) => x > 0 && Number.isFinite(x));
  return v.length ? Math.exp(v.reduce((s, x) => s + Math.log(x), 0) / v.length) : NaN;
}

const fmt = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d));

// ---------------------------------------------------------------------------------------
// Section: gemm

type Form = "nn" | "nt" | "tn";
const FORMS: Form[] = ["nn", "nt", "tn"];

interface Shape {
  M: number;
  K: number;
  N: number;
  /** Only these forms for this shape (default: all selected forms). */
  forms?: Form[];
}

/** MNIST MLP/CNN training shapes: batch M, fan-in K, fan-out N; plus a square 512³. */
function defaultShapes(): Shape[] {
  const out: Shape[] = [];
  for (const M of [128, 256, 512]) for (const K of [784, 256]) for (const N of [256, 100, 10]) out.push({ M, K, N });
  out.push({ M: 512, K: 512, N: 512 });
  return out;
}

/**
 * The GEMMs of one training step of the 784-256-256-10 MLP at batch 128, as src/nn/dense.ts
 * issues them: forward x·Wᵀ (nt), weight gradient dyᵀ·x (tn), input gradient dy·W (nn).
 */
function mlpShapes(batch = 128): Shape[] {
  const out: Shape[] = [];
  const layers: Array<[number, number]> = [[784, 256], [256, 256], [256, 10]];
  for (const [inF, outF] of layers) {
    out.push({ M: batch, K: inF, N: outF, forms: ["nt"] });
    out.push({ M: outF, K: batch, N: inF, forms: ["tn"] });
    out.push({ M: batch, K: outF, N: inF, forms: ["nn"] });
  }
  return out;
}

/** "MxKxN[:form+form],…", or the presets "train" (the default) and "mlp". */
function parseShapes(s: string): Shape[] {
  if (s === "train") return defaultShapes();
  if (s === "mlp") return mlpShapes();
  return s.split(",").map((t) => {
    const [dims, formList] = t.trim().split(":");
    const [M, K, N] = dims.split("x").map(Number);
    if (![M, K, N].every((v) => Number.isInteger(v) && v > 0)) throw new Error(`bad shape '${t}' (want MxKxN[:nn+nt])`);
    const forms = formList ? (formList.split("+") as Form[]) : undefined;
    for (const f of forms ?? []) if (!FORMS.includes(f)) throw new Error(`unknown form '${f}' in '${t}'`);
    return { M, K, N, forms };
  });
}

/** Row-major transpose of an r×c matrix. */
function transpose(x: Float32Array, r: number, c: number): Float32Array {
  const y = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) y[j * r + i] = x[i * c + j];
  return y;
}

/** C = A·B in float64 plus Σ|a||b| per entry (the scale of the rounding error bound). */
function reference(A: Float32Array, B: Float32Array, { M, K, N }: Shape): { ref: Float64Array; mag: Float64Array } {
  const ref = new Float64Array(M * N);
  const mag = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const a = A[i * K + k];
      const aa = Math.abs(a);
      const row = k * N;
      const o = i * N;
      for (let j = 0; j < N; j++) {
        const b = B[row + j];
        ref[o + j] += a * b;
        mag[o + j] += aa * Math.abs(b);
      }
    }
  }
  return { ref, mag };
}

/** max_ij |c − ref| / Σ_k |a_ik b_kj|: at most ≈ K·2⁻²⁴ for any correct float32 summation. */
function relError(c: Float32Array, ref: Float64Array, mag: Float64Array): number {
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(c[i] - ref[i]) / (mag[i] || 1);
    if (!(d <= e)) e = d; // NaN propagates as a failure
  }
  return e;
}

interface GemmImpl {
  name: string;
  /** Prepare one shape/form; returns the timed call and the result view, or null if unsupported. */
  setup(shape: Shape, form: Form, A: Float32Array, B: Float32Array): { call: () => void; result: () => Float32Array; done: () => void };
}

function oursImpl(simd: "plain" | "relaxed"): GemmImpl {
  const rt = new Runtime({ simd });
  const arena = new Arena(rt);
  const work = arena.bytes(rt.k.gemmWorkBytes());
  const k = rt.k;
  return {
    name: simd,
    setup({ M, K, N }, form, A, B) {
      const mark = arena.mark();
      const tA = form === "tn" ? 1 : 0;
      const tB = form === "nt" ? 1 : 0;
      const a = arena.f32(M * K);
      const b = arena.f32(K * N);
      const c = arena.f32(M * N);
      a.f32.set(tA ? transpose(A, M, K) : A);
      b.f32.set(tB ? transpose(B, K, N) : B);
      const lda = tA ? M : K;
      const ldb = tB ? K : N;
      return {
        call: () => k.gemm(tA, tB, M, N, K, a.ptr, lda, b.ptr, ldb, c.ptr, N, 0, work),
        result: () => rt.f32(c.ptr, M * N).slice(),
        done: () => arena.release(mark),
      };
    },
  };
}

function tfjsImpl(tf: Tf): GemmImpl {
  return {
    name: "tfjs",
    setup({ M, K, N }, form, A, B) {
      const tA = form === "tn";
      const tB = form === "nt";
      const a = tA ? tf.tensor2d(transpose(A, M, K), [K, M]) : tf.tensor2d(A, [M, K]);
      const b = tB ? tf.tensor2d(transpose(B, K, N), [N, K]) : tf.tensor2d(B, [K, N]);
      return {
        call: () => tf.matMul(a, b, tA, tB).dispose(),
        result: () => {
          const c = tf.matMul(a, b, tA, tB);
          const d = c.dataSync() as Float32Array;
          c.dispose();
          return d.slice();
        },
        done: () => {
          a.dispose();
          b.dispose();
        },
      };
    },
  };
}

async function benchGemm(opts: Options): Promise<SectionResult> {
  const shapes = opts.args.has("shapes") ? parseShapes(opts.args.get("shapes")!) : defaultShapes();
  const forms = (opts.args.get("forms")?.split(",") ?? FORMS) as Form[];
  for (const f of forms) if (!FORMS.includes(f)) throw new Error(`unknown form '${f}'`);
  const want = opts.args.get("impls")?.split(",") ?? ["plain", "relaxed", "tfjs"];
  const meta: Record<string, unknown> = { node: process.version, threads: 1 };
  const notes: string[] = [];

  const impls: GemmImpl[] = [];
  if (want.includes("plain")) impls.push(oursImpl("plain"));
  if (want.includes("relaxed")) {
    if (relaxedSimdAvailable()) impls.push(oursImpl("relaxed"));
    else notes.push("relaxed-SIMD build does not validate here: skipped");
  }
  if (want.includes("tfjs")) {
    try {
      const tf = await tfjsWasm();
      impls.push(tfjsImpl(tf));
      meta.tfjs = { version: tf.version_core, backend: tf.getBackend(), ...tfjsWasmFeatures(tf) };
    } catch (e) {
      notes.push(`tfjs-backend-wasm unavailable: ${(e as Error).message}`);
    }
  }
  meta.impls = impls.map((i) => i.name);

  // V8 runs new WASM code in its baseline tier and recompiles hot functions in the
  // background: exercise every code path (narrow and blocked, all forms) before timing.
  {
    const w = new Stream(99, 1);
    for (const shape of [{ M: 64, K: 256, N: 64 }, { M: 64, K: 256, N: 10 }]) {
      const A = new Float32Array(shape.M * shape.K).map(() => w.next());
      const B = new Float32Array(shape.K * shape.N).map(() => w.next());
      for (const impl of impls) {
        for (const form of forms) {
          const h = impl.setup(shape, form, A, B);
          const t0 = performance.now();
          while (performance.now() - t0 < (opts.quick ? 60 : 150)) h.call();
          h.done();
        }
      }
    }
  }

  const rows: Record<string, unknown>[] = [];
  let ok = true;
  for (const shape of shapes) {
    const { M, K, N } = shape;
    const s = new Stream(1234, M * 1_000_003 + K * 1009 + N);
    const A = new Float32Array(M * K).map(() => s.next() * 2 - 1);
    const B = new Float32Array(K * N).map(() => s.next() * 2 - 1);
    const { ref, mag } = reference(A, B, shape);
    const tol = 2 * K * 2 ** -24 + 1e-6;
    const flops = 2 * M * N * K;
    for (const form of forms) {
      if (shape.forms && !shape.forms.includes(form)) continue;
      const row: Record<string, unknown> = { M, K, N, form };
      const handles = impls.map((impl) => ({ impl, h: impl.setup(shape, form, A, B) }));
      try {
        // Verify every implementation before timing any.
        const timed: Array<{ name: string; t: Timed }> = [];
        for (const { impl, h } of handles) {
          h.call();
          const err = relError(h.result(), ref, mag);
          row[`${impl.name}_err`] = err;
          if (!(err <= tol)) {
            ok = false;
            row[`${impl.name}_gflops`] = null;
            notes.push(`MISMATCH ${impl.name} ${form} ${M}x${K}x${N}: relative error ${err.toExponential(2)} > ${tol.toExponential(2)}`);
          } else {
            timed.push({ name: impl.name, t: prepare(h.call, opts.quick) });
          }
        }
        timeInterleaved(timed.map((x) => x.t), opts.quick);
        for (const { name, t } of timed) row[`${name}_gflops`] = flops / t.best / 1e9;
      } finally {
        for (const { h } of handles) h.done();
      }
      rows.push(row);
      if (!opts.json) process.stderr.write(".");
    }
  }
  if (!opts.json) process.stderr.write("\n");

  // Text report.
  const g = (r: Record<string, unknown>, n: string) => r[`${n}_gflops`] as number | undefined;
  const ratio = (r: Record<string, unknown>, n: string) => {
    const ours = g(r, n);
    const base = g(r, "tfjs");
    return ours && base ? ours / base : undefined;
  };
  const names = impls.map((i) => i.name);
  const ours = names.filter((n) => n !== "tfjs");
  const header = ["shape MxKxN", "form", ...names.map((n) => `${n} GF/s`), ...(names.includes("tfjs") ? ours.map((n) => `${n}/tfjs`) : [])];
  const body = rows.map((r) => [
    `${r.M}x${r.K}x${r.N}`, String(r.form),
    ...names.map((n) => fmt(g(r, n))),
    ...(names.includes("tfjs") ? ours.map((n) => fmt(ratio(r, n), 2)) : []),
  ]);
  const summary: Record<string, Record<string, number>> = {};
  const sumLines: string[] = [];
  for (const n of names) {
    summary[n] = {};
    const parts: string[] = [];
    for (const f of forms) {
      const gm = geomean(rows.filter((r) => r.form === f).map((r) => g(r, n) ?? NaN));
      summary[n][f] = gm;
      parts.push(`${f} ${fmt(gm)}`);
    }
    const min = Math.min(...rows.map((r) => g(r, n) ?? Infinity));
    summary[n].min = min;
    let line = `${n.padEnd(8)} geomean GF/s: ${parts.join(", ")}; min ${fmt(min)}`;
    if (forms.includes("nn")) {
      const rel: string[] = [];
      for (const f of forms) {
        if (f === "nn") continue;
        const rs = rows.filter((r) => r.form === f).map((r) => {
          const nn = rows.find((q) => q.form === "nn" && q.M === r.M && q.K === r.K && q.N === r.N);
          const a = g(r, n);
          const b = nn && g(nn, n);
          return a && b ? a / b : NaN;
        });
        const paired = rs.filter(Number.isFinite);
        if (paired.length === 0) continue;
        summary[n][`${f}/nn`] = geomean(paired);
        rel.push(`${f}/nn ${fmt(geomean(paired), 2)} (min ${fmt(Math.min(...paired), 2)})`);
      }
      if (rel.length) line += `; ${rel.join(", ")}`;
    }
    sumLines.push(line);
  }
  meta.summary = summary;
  const text = [
    "GEMM, one thread, GFLOP/s = 2·M·N·K / best time (C = op(A)·op(B); nn: A·B, nt: A·Bᵀ, tn: Aᵀ·B)",
    table(header, body),
    "",
    ...sumLines,
    ...(meta.tfjs ? [`tfjs ${JSON.stringify(meta.tfjs)}`] : []),
    ...notes,
  ].join("\n");
  return { section: "gemm", rows, meta, text, ok };
}

// ---------------------------------------------------------------------------------------
// Sections and main


// ---------------------------------------------------------------------------------------
// Convolution: forward, input gradient and weight gradient of cnn-small's two conv layers
// at batch 128, through the Conv2d layer (the code training runs), beside tfjs-backend-wasm
// conv2d and Conv2DBackpropInput. tfjs-backend-wasm has no Conv2DBackpropFilter kernel, so
// the weight gradient has no tfjs figure. Results are compared with tfjs before timing.

interface ConvShape {
  name: string;
  cin: number;
  cout: number;
  hw: number;
  k: number;
  stride: number;
  pad: number;
}

const CONV_SHAPES: ConvShape[] = [
  { name: "cnn-small conv1", cin: 1, cout: 16, hw: 28, k: 4, stride: 2, pad: 1 },
  { name: "cnn-small conv2", cin: 16, cout: 32, hw: 14, k: 4, stride: 2, pad: 1 },
  { name: "cnn-large conv1 (3×3)", cin: 1, cout: 32, hw: 28, k: 3, stride: 1, pad: 1 },
];

async function benchConv(opts: Options): Promise<SectionResult> {
  const batch = Number(opts.args.get("batch") ?? 128);
  const tf = await tfjsWasm();
  const variants = (["plain", "relaxed"] as const).filter((v) => v === "plain" || relaxedSimdAvailable());
  const rows: Record<string, unknown>[] = [];
  const textRows: string[][] = [];
  let ok = true;
  for (const sh of CONV_SHAPES) {
    const oh = Math.floor((sh.hw + 2 * sh.pad - sh.k) / sh.stride) + 1;
    const inN = batch * sh.cin * sh.hw * sh.hw;
    const outN = batch * sh.cout * oh * oh;
    const flops = 2 * batch * oh * oh * sh.cout * sh.cin * sh.k * sh.k;
    const rng = new Stream(7, 3);
    const x = Float32Array.from({ length: inN }, () => rng.next());
    const dy = Float32Array.from({ length: outN }, () => rng.next() - 0.5);
    // Ours, per build: a one-layer model (conv + flatten) so the layer runs as in training.
    const ours = variants.map((simd) => {
      const rt = new Runtime({ simd });
      const model = new Model({ name: "conv", inputShape: [sh.cin, sh.hw, sh.hw], layers: [
        { type: "conv2d", inChannels: sh.cin, outChannels: sh.cout, kernel: sh.k, stride: sh.stride, padding: sh.pad },
        { type: "flatten" }] }, new Arena(rt)).init(1);
      const plan = model.plan(batch);
      plan.input.set(x);
      rt.f32(plan.grads[2], outN).set(dy);
      const layer = model.layers[0];
      const fwd = () => layer.forward(plan.ctx, plan.acts[0], plan.acts[1], batch, plan.caches[0]);
      const dxPass = () => layer.backward(plan.ctx, plan.acts[0], plan.acts[1], plan.grads[1], plan.grads[0], batch, 0, plan.caches[0]);
      const dwPass = () => layer.backward(plan.ctx, plan.acts[0], plan.acts[1], plan.grads[1], 0, batch, 1, plan.caches[0]);
      fwd();
      dxPass();
      return { simd, model, plan, rt, fwd, dxPass, dwPass };
    });
    // tfjs (NHWC, filter [K,K,Cin,Cout]) on the same numbers.
    const w = ours[0].model.params.f32;
    const nw = sh.cout * sh.cin * sh.k * sh.k;
    const xt = tf.transpose(tf.tensor4d(x, [batch, sh.cin, sh.hw, sh.hw]), [0, 2, 3, 1]);
    const wt = tf.transpose(tf.tensor4d(w.slice(0, nw), [sh.cout, sh.cin, sh.k, sh.k]), [2, 3, 1, 0]);
    const bt = tf.tensor1d(w.slice(nw));
    const dyt = tf.transpose(tf.tensor4d(dy, [batch, sh.cout, oh, oh]), [0, 2, 3, 1]);
    const pad = [[0, 0], [sh.pad, sh.pad], [sh.pad, sh.pad], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
    const tfFwd = () => tf.tidy(() => tf.add(tf.conv2d(xt, wt as never, sh.stride, pad), bt));
    const tfDx = () => tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: dyt, filter: wt },
      { strides: [sh.stride, sh.stride], pad, dataFormat: "NHWC", inputShape: [batch, sh.hw, sh.hw, sh.cin] } as never) as ReturnType<Tf["tensor4d"]>;
    // Check before timing.
    const yRef = tf.transpose(tfFwd(), [0, 3, 1, 2]).dataSync();
    const dxRef = tf.transpose(tfDx(), [0, 3, 1, 2]).dataSync();
    for (const o of ours) {
      const ey = maxRelErr(o.rt.f32(o.plan.acts[1], outN), yRef);
      const ex = maxRelErr(o.rt.f32(o.plan.grads[0], inN), dxRef);
      if (ey > 1e-4 || ex > 1e-4) {
        ok = false;
        textRows.push([sh.name, `MISMATCH ${o.simd}: forward ${ey.toExponential(1)}, input grad ${ex.toExponential(1)}`, "", "", "", ""]);
      }
    }
    const pass = (name: string, oursFns: (() => void)[], tfFn: (() => void) | null) => {
      const timed = [...oursFns.map((f) => prepare(f, opts.quick)), ...(tfFn ? [prepare(tfFn, opts.quick)] : [])];
      timeInterleaved(timed, opts.quick);
      const gf = timed.map((t) => flops / t.best / 1e9);
      const plain = gf[0];
      const relaxed = variants.length > 1 ? gf[1] : null;
      const tfj = tfFn ? gf[gf.length - 1] : null;
      const row = { shape: sh.name, batch, pass: name, plainGflops: +plain.toFixed(1), relaxedGflops: relaxed && +relaxed.toFixed(1), tfjsGflops: tfj && +tfj.toFixed(1), ratioPlainVsTfjs: tfj ? +(plain / tfj).toFixed(2) : null, ratioRelaxedVsTfjs: tfj && relaxed ? +(relaxed / tfj).toFixed(2) : null };
      rows.push(row);
      textRows.push([sh.name, name, plain.toFixed(1), relaxed ? relaxed.toFixed(1) : "-", tfj ? tfj.toFixed(1) : "no kernel",
        tfj ? `${(plain / tfj).toFixed(2)} / ${relaxed ? (relaxed / tfj).toFixed(2) : "-"}` : "-"]);
    };
    const dispose = (f: () => unknown) => () => tf.dispose(f() as never);
    pass("forward", ours.map((o) => o.fwd), dispose(tfFwd));
    pass("input grad", ours.map((o) => o.dxPass), dispose(tfDx));
    pass("weight grad", ours.map((o) => o.dwPass), null);
    tf.dispose([xt, wt, bt, dyt]);
  }
  const text = table(["layer (batch " + batch + ")", "pass", "plain GF/s", "relaxed GF/s", "tfjs GF/s", "ours/tfjs"], textRows);
  return { section: "conv", rows, meta: { batch, tfjs: tfjsWasmFeatures(tf) }, text, ok };
}

function maxRelErr(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
  let e = 0;
  for (let i = 0; i < ref.length; i++) e = Math.max(e, Math.abs(a[i] - ref[i]));
  return e / Math.max(scale, 1e-30);
}

// ---------------------------------------------------------------------------------------
// Clean training samples/s on one thread, ours vs PyTorch (scripts/bench-train.ts).

async function benchTrainSection(opts: Options): Promise<SectionResult> {
  const r = await benchTrain({
    models: (opts.args.get("models") ?? "mlp,cnn-small").split(","),
    batches: (opts.args.get("batches") ?? "64,128").split(",").map(Number),
    rounds: opts.quick ? 2 : 6,
    slice: opts.quick ? 0.2 : 0.4,
  });
  const note = r.pytorch === "python3-torch, 1 thread" ? "" : `\nPyTorch comparison skipped: ${r.pytorch}`;
  return { section: "train", rows: r.rows as unknown as Record<string, unknown>[], meta: { pytorch: r.pytorch }, text: formatTrainRows(r.rows) + note, ok: true };
}

const SECTIONS: Section[] = [
  { name: "gemm", describe: "sgemm nn/nt/tn, plain and relaxed builds vs tfjs-backend-wasm", run: benchGemm },
  { name: "conv", describe: "conv forward / input grad / weight grad (cnn-small shapes, batch 128) vs tfjs-backend-wasm", run: benchConv },
  { name: "train", describe: "clean training samples/s on one thread, ours vs PyTorch", run: benchTrainSection },
];

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const selected = opts.only ? SECTIONS.filter((s) => opts.only!.includes(s.name)) : SECTIONS;
  if (opts.only) {
    const unknown = opts.only.filter((n) => !SECTIONS.some((s) => s.name === n));
    if (unknown.length) throw new Error(`unknown section(s) ${unknown.join(", ")}; known: ${SECTIONS.map((s) => s.name).join(", ")}`);
  }
  const results: SectionResult[] = [];
  for (const s of selected) {
    if (!opts.json) console.log(`## ${s.name}: ${s.describe}`);
    const r = await s.run(opts);
    results.push(r);
    if (!opts.json) console.log(r.text + "\n");
  }
  if (opts.json) console.log(JSON.stringify({ date: new Date().toISOString(), sections: results.map(({ text: _t, ...r }) => r) }, null, 2));
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

try {
  await main();
} catch (e) {
  console.error(`bench-kernels: ${(e as Error).message}`);
  process.exitCode = 2;
}
