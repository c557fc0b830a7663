// The native model file (.bwk): round trips, every bad-input case as a one-line error naming
// the problem (DESIGN.md, decision 6), and atomic writes.
import test, { type ExecutionContext } from "ava";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { Stream } from "../src/core/random.js";
import { decodeModel, encodeModel, instantiate, loadModel, MAGIC, saveModel, VERSION, weightsHash, type ModelFile } from "../src/io/bwk.js";
import { architecture, type Architecture } from "../src/nn/architectures.js";
import { buildLayers } from "../src/nn/build.js";

function tmp(t: ExecutionContext): string {
  const d = mkdtempSync(join(tmpdir(), "bulwark-bwk-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function paramCount(arch: Architecture): number {
  return buildLayers(arch.inputShape, arch.layers).reduce((s, l) => s + l.paramCount, 0);
}

function randomParams(n: number, seed: number): Float32Array {
  const s = new Stream(seed, 3);
  const p = new Float32Array(n);
  for (let i = 0; i < n; i++) p[i] = s.normal() * 0.1;
  return p;
}

/** A small architecture using every layer type. */
const SMALL: Architecture = {
  name: "small",
  inputShape: [2, 8, 8],
  layers: [
    { type: "conv2d", inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1 },
    { type: "relu" },
    { type: "avgpool2d", kernel: 2, stride: 2 },
    { type: "flatten" },
    { type: "dense", in: 48, out: 5 },
  ],
};

function smallFile(seed = 1): ModelFile {
  return {
    architecture: SMALL,
    params: randomParams(paramCount(SMALL), seed),
    tensors: { "opt.m": randomParams(paramCount(SMALL), seed + 1), "opt.t": Float32Array.of(7) },
    meta: { note: "hello", nested: { a: [1, 2, 3] } },
  };
}

const PREFIX = 16;

/** The pieces of an encoded file. */
function parts(buf: Buffer) {
  const h = buf.readUInt32LE(12);
  const header = JSON.parse(buf.subarray(PREFIX, PREFIX + h).toString("utf8"));
  return { h, header, dataStart: PREFIX + h, data: Buffer.from(buf.subarray(PREFIX + h, buf.length - 4)) };
}

/** Reassembles a file from a header (object or raw text) and data, with a correct CRC. */
function rebuild(header: unknown, data: Buffer, version = VERSION): Buffer {
  let json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  if (json.length % 4) json = Buffer.concat([json, Buffer.alloc(4 - (json.length % 4), 0x20)]);
  const out = Buffer.alloc(PREFIX + json.length + data.length + 4);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(version, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, PREFIX);
  data.copy(out, PREFIX + json.length);
  out.writeUInt32LE(crc32(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

/** Recomputes the trailing CRC so that only the check under test can fire. */
function fixCrc(buf: Buffer): Buffer {
  buf.writeUInt32LE(crc32(buf.subarray(0, buf.length - 4)), buf.length - 4);
  return buf;
}

/** Asserts decode fails with one line matching `re`, and that loading it from disk does too. */
function bad(t: ExecutionContext, buf: Buffer, re: RegExp, what: string): string {
  const e = t.throws(() => decodeModel(buf, "m.bwk"), undefined, what);
  const msg = e?.message ?? "";
  t.regex(msg, re, what);
  t.true(msg.startsWith("m.bwk: "), `${what}: error names the file: ${msg}`);
  t.false(msg.includes("\n"), `${what}: multi-line error: ${msg}`);
  return msg;
}

// ---------------------------------------------------------------------------------------------
// Round trips

test("save → load: identical params (bit for bit), weightsHash, architecture, tensors and meta", (t) => {
  const dir = tmp(t);
  for (const file of [smallFile(), { architecture: architecture("mlp"), params: randomParams(269322, 5) }]) {
    const path = join(dir, `${file.architecture.name}.bwk`);
    saveModel(path, file);
    const back = loadModel(path);
    t.deepEqual(back.architecture, file.architecture);
    t.deepEqual(new Uint8Array(back.params.buffer), new Uint8Array(file.params.buffer.slice(0)));
    t.is(back.weightsHash, weightsHash(file.params));
    t.regex(back.weightsHash, /^[0-9a-f]{64}$/);
    t.deepEqual(back.tensors, file.tensors ?? {});
    t.deepEqual(back.meta, file.meta ?? {});
    t.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".tmp")), []);
    // The header records the same hash.
    t.is(parts(readFileSync(path)).header.weightsHash, back.weightsHash);
  }
});

test("round trip keeps every float bit pattern (−0, subnormals, extremes)", (t) => {
  const file = smallFile();
  const special = [-0, 1.4e-45, -1.4e-45, 3.4028234663852886e38, -3.4028234663852886e38, 1e-40, 1, -1];
  special.forEach((v, i) => (file.params[i] = v));
  const back = decodeModel(encodeModel(file));
  t.deepEqual(new Uint8Array(back.params.buffer), new Uint8Array(file.params.buffer.slice(0)));
  t.true(Object.is(back.params[0], -0));
  t.is(back.weightsHash, weightsHash(file.params));
});

test("weightsHash tells bit-identical weights apart from nearly identical ones", (t) => {
  const a = randomParams(100, 1);
  const b = a.slice();
  t.is(weightsHash(a), weightsHash(b));
  b[50] = Math.fround(b[50] * (1 + 2 ** -23)) === b[50] ? b[50] + 1e-7 : Math.fround(b[50] * (1 + 2 ** -23));
  t.not(weightsHash(a), weightsHash(b));
  // A view hashes its own bytes, not the whole buffer.
  t.is(weightsHash(a.subarray(10, 20)), weightsHash(a.slice(10, 20)));
});

test("encoding is deterministic, 4-byte aligned, and the loaded file instantiates the same network", (t) => {
  const file = smallFile();
  const a = encodeModel(file);
  const b = encodeModel(file);
  t.deepEqual(a, b);
  const { h, header } = parts(a);
  t.is(h % 4, 0);
  t.is(a.subarray(0, 8).toString("latin1"), "BULWARK\0");
  t.is(a.readUInt32LE(8), VERSION);
  t.is(header.format, "bulwark-model");
  t.is(header.paramCount, file.params.length);
  t.deepEqual(header.tensors.map((x: { name: string }) => x.name), ["params", "opt.m", "opt.t"]);
  t.is(a.length, PREFIX + h + 4 * (2 * file.params.length + 1) + 4);
  const model = instantiate(decodeModel(a));
  t.is(model.paramCount, file.params.length);
  t.deepEqual(model.params.f32.slice(), file.params);
});

test("encodeModel refuses a parameter count that does not fit the architecture", (t) => {
  const file = smallFile();
  const e = t.throws(() => encodeModel({ ...file, params: file.params.subarray(1) }));
  t.regex(e!.message, /parameter count mismatch: architecture needs \d+, got \d+/);
});

// ---------------------------------------------------------------------------------------------
// Bad input: one line naming the problem

test("wrong magic", (t) => {
  const buf = encodeModel(smallFile());
  buf.write("BULWARX", 0, "latin1");
  bad(t, fixCrc(buf), /wrong magic/, "wrong magic");
  bad(t, Buffer.from("PK\x03\x04 this is a zip file, not a model at all........", "latin1"), /not a bulwark model/, "zip");
});

test("truncated files, cut at several points", (t) => {
  const full = encodeModel(smallFile());
  const { h, dataStart } = parts(full);
  const cuts: [number, RegExp, string][] = [
    [0, /not a bulwark model \(file is 0 bytes\)/, "empty"],
    [5, /not a bulwark model \(file is 5 bytes\)/, "inside the magic"],
    [12, /not a bulwark model \(file is 12 bytes\)/, "inside the prefix"],
    [PREFIX + 2, /not a bulwark model \(file is 18 bytes\)/, "just after the prefix (shorter than prefix + checksum)"],
    [PREFIX + 4, /truncated file \(header says \d+ bytes, file has 20\)/, "at the start of the header"],
    [PREFIX + Math.floor(h / 2), /truncated file \(header says \d+ bytes/, "inside the header"],
    [dataStart, /truncated file \(header says \d+ bytes, file has \d+\)/, "right after the header"],
    [dataStart + 4, /truncated file \(expected \d+ bytes, got \d+\)/, "one float into the weights"],
    [dataStart + 10, /truncated file \(expected/, "inside the first weight"],
    [dataStart + Math.floor((full.length - dataStart) / 2), /truncated file \(expected/, "inside the weights"],
    [full.length - 4, /truncated file \(expected/, "checksum missing"],
    [full.length - 1, /truncated file \(expected/, "checksum cut"],
  ];
  for (const [at, re, what] of cuts) bad(t, Buffer.from(full.subarray(0, at)), re, what);
});

test("trailing bytes", (t) => {
  const full = encodeModel(smallFile());
  bad(t, Buffer.concat([full, Buffer.from([0])]), /trailing data \(expected \d+ bytes, got \d+\)/, "one byte");
  bad(t, Buffer.concat([full, full]), /trailing data/, "a second copy");
});

test("a flipped byte in the weights, in an extra tensor, or in the checksum is a checksum mismatch", (t) => {
  const full = encodeModel(smallFile());
  const { dataStart } = parts(full);
  for (const at of [dataStart, dataStart + 101, full.length - 10, full.length - 4, full.length - 1]) {
    const buf = Buffer.from(full);
    buf[at] ^= 0x10;
    bad(t, buf, /checksum mismatch/, `byte ${at}`);
  }
  // A flipped byte in the header that keeps valid JSON is caught by the checksum too.
  const buf = Buffer.from(full);
  const at = buf.indexOf("hello", PREFIX);
  buf[at] = "j".charCodeAt(0);
  bad(t, buf, /checksum mismatch/, "header text");
});

test("unsupported version", (t) => {
  const buf = encodeModel(smallFile());
  buf.writeUInt32LE(VERSION + 1, 8);
  bad(t, fixCrc(buf), new RegExp(`unsupported model format version ${VERSION + 1}`), "next version");
  buf.writeUInt32LE(0, 8);
  bad(t, fixCrc(buf), /unsupported model format version 0/, "version 0");
});

test("header length that is absurd or unaligned", (t) => {
  const buf = encodeModel(smallFile());
  const b1 = Buffer.from(buf);
  b1.writeUInt32LE(0xfffffff0, 12);
  bad(t, fixCrc(b1), /corrupt header length/, "4 GB header");
  const b2 = Buffer.from(buf);
  b2.writeUInt32LE(b2.readUInt32LE(12) - 1, 12);
  bad(t, fixCrc(b2), /corrupt header length/, "unaligned");
});

test("header that is not JSON, or JSON without the fields", (t) => {
  const full = encodeModel(smallFile());
  const { h, data } = parts(full);
  bad(t, rebuild("{not json".padEnd(h, "x"), data), /corrupt header \(not valid JSON\)/, "garbage");
  const binary = Buffer.from(full);
  binary.fill(0xff, PREFIX, PREFIX + 8);
  bad(t, fixCrc(binary), /not valid JSON/, "binary");
  bad(t, rebuild("null", data), /corrupt header \(missing fields\)/, "null");
  bad(t, rebuild("[1,2,3]", data), /missing fields/, "array");
  bad(t, rebuild({ ...parts(full).header, format: "onnx" }, data), /missing fields/, "wrong format");
  bad(t, rebuild({ ...parts(full).header, tensors: undefined }, data), /missing fields/, "no tensor table");
});

test("corrupt or hostile tensor tables", (t) => {
  const full = encodeModel(smallFile());
  const { header, data } = parts(full);
  const withTensor = (x: unknown) => rebuild({ ...header, tensors: [x, ...header.tensors.slice(1)] }, data);
  bad(t, withTensor({ name: "params", length: -1 }), /corrupt tensor table entry/, "negative length");
  bad(t, withTensor({ name: "params", length: 1.5 }), /corrupt tensor table entry/, "fractional length");
  bad(t, withTensor({ name: "params", length: 2 ** 40 }), /corrupt tensor table entry/, "huge length");
  bad(t, withTensor({ length: 10 }), /corrupt tensor table entry/, "no name");
  bad(t, withTensor(null), /corrupt tensor table entry/, "null entry");
  // A big but legal length must fail on size before anything is allocated for it.
  bad(t, withTensor({ name: "params", length: 2 ** 30 }), /truncated file/, "1 G floats");
  // No params tensor at all.
  bad(t, rebuild({ ...header, tensors: header.tensors.map((x: { name: string }, i: number) => (i === 0 ? { ...x, name: "weights" } : x)) }, data),
    /no 'params' tensor/, "params renamed");
});

test("shape mismatch between the header's parameter shapes and the architecture", (t) => {
  const full = encodeModel(smallFile());
  const { header, data } = parts(full);
  // 1. paramShapes edited (conv weight [3,2,3,3] → [3,2,1,9]: same size, wrong shape).
  const shapes = structuredClone(header.paramShapes);
  shapes[0].shape = [3, 2, 1, 9];
  bad(t, rebuild({ ...header, paramShapes: shapes }, data),
    /shape mismatch at layer 0 weight: architecture needs \[3,2,3,3\], file has \[3,2,1,9\]/, "paramShapes edited");
  // 2. architecture edited (dense 48→5 becomes 48→6) while the header keeps the old shapes.
  const arch = structuredClone(header.architecture);
  arch.layers[4].out = 6;
  bad(t, rebuild({ ...header, architecture: arch }, data), /shape mismatch at layer 4 weight: architecture needs \[6,48\], file has \[5,48\]/,
    "architecture edited");
  // 3. a parameter shape missing from the header.
  bad(t, rebuild({ ...header, paramShapes: header.paramShapes.slice(0, -1) }, data), /shape mismatch at layer 4 bias.*file has \[nothing\]/,
    "shape dropped");
  // 4. header and architecture agree with each other, but not with the stored tensor.
  const arch2 = structuredClone(header.architecture);
  arch2.layers[4].out = 6;
  const shapes2 = structuredClone(header.paramShapes);
  shapes2[2].shape = [6, 48];
  shapes2[3].shape = [6];
  bad(t, rebuild({ ...header, architecture: arch2, paramShapes: shapes2 }, data),
    /shape mismatch: architecture needs \d+ parameters, file has \d+/, "params tensor too short");
  // 5. paramCount field disagreeing.
  bad(t, rebuild({ ...header, paramCount: header.paramCount + 1 }, data), /shape mismatch/, "paramCount");
});

test("NaN and ±Inf weights (in params or in an extra tensor) are refused", (t) => {
  const full = encodeModel(smallFile());
  const { dataStart, header } = parts(full);
  const cases: [number, number, RegExp][] = [
    [5, NaN, /tensor 'params': non-finite value NaN at index 5/],
    [0, Infinity, /tensor 'params': non-finite value Infinity at index 0/],
    [header.paramCount - 1, -Infinity, /tensor 'params': non-finite value -Infinity at index \d+/],
    [header.paramCount + 3, NaN, /tensor 'opt\.m': non-finite value NaN at index 3/],
  ];
  for (const [i, v, re] of cases) {
    const buf = Buffer.from(full);
    buf.writeFloatLE(v, dataStart + 4 * i);
    bad(t, fixCrc(buf), re, `${v} at ${i}`);
  }
  // A NaN with a payload (not the canonical bit pattern) too.
  const buf = Buffer.from(full);
  buf.writeUInt32LE(0x7fc12345, dataStart + 8);
  bad(t, fixCrc(buf), /non-finite value NaN at index 2/, "NaN payload");
});

test("encodeModel refuses NaN/Inf weights too", (t) => {
  const file = smallFile();
  file.params[3] = NaN;
  t.throws(() => encodeModel(file), { message: /params: non-finite value NaN at index 3/ });
  const f2 = smallFile();
  f2.tensors!["opt.m"][1] = -Infinity;
  t.throws(() => encodeModel(f2), { message: /opt\.m: non-finite value -Infinity at index 1/ });
});

test("unknown layer type, and an architecture that does not build", (t) => {
  const full = encodeModel(smallFile());
  const { header, data } = parts(full);
  const arch = structuredClone(header.architecture);
  arch.layers[1].type = "gelu";
  const msg = bad(t, rebuild({ ...header, architecture: arch }, data), /layer 1: unknown layer type 'gelu'/, "gelu");
  t.regex(msg, /known: dense, conv2d, relu, flatten, avgpool2d/);
  const arch2 = structuredClone(header.architecture);
  arch2.layers[0].inChannels = 5;
  bad(t, rebuild({ ...header, architecture: arch2 }, data), /layer 0 \(conv2d\): expects 5 input channels/, "wrong channels");
  bad(t, rebuild({ ...header, architecture: { ...header.architecture, layers: "dense" } }, data), /no valid architecture/, "layers not a list");
});

test("a header without an architecture is an error naming the architecture", (t) => {
  const { header, data } = parts(encodeModel(smallFile()));
  bad(t, rebuild({ ...header, architecture: null }, data), /architecture/, "architecture null");
  bad(t, rebuild({ ...header, architecture: undefined }, data), /architecture/, "architecture missing");
});

test("loadModel: missing file, directory, and errors that name the path", (t) => {
  const dir = tmp(t);
  const missing = join(dir, "nope.bwk");
  t.throws(() => loadModel(missing), { message: `${missing}: cannot read model (no such file)` });
  const e = t.throws(() => loadModel(dir));
  t.regex(e!.message, /cannot read model \(EISDIR\)/);
  const path = join(dir, "bad.bwk");
  writeFileSync(path, Buffer.from(encodeModel(smallFile()).subarray(0, 100)));
  const e2 = t.throws(() => loadModel(path));
  t.true(e2!.message.startsWith(`${path}: truncated file`), e2!.message);
});

// ---------------------------------------------------------------------------------------------
// Atomic writes

test("a failing save leaves the old file byte-identical and no temporary files", (t) => {
  const dir = tmp(t);
  const path = join(dir, "m.bwk");
  saveModel(path, smallFile(1));
  const before = readFileSync(path);
  const nan = smallFile(2);
  nan.params[7] = NaN;
  t.throws(() => saveModel(path, nan), { message: /non-finite value NaN at index 7/ });
  t.deepEqual(readFileSync(path), before);
  t.deepEqual(readdirSync(dir), ["m.bwk"]);
  // Wrong parameter count: same.
  t.throws(() => saveModel(path, { ...smallFile(3), params: new Float32Array(3) }), { message: /parameter count mismatch/ });
  t.deepEqual(readFileSync(path), before);
  t.deepEqual(readdirSync(dir), ["m.bwk"]);
  // A successful save replaces the file and leaves nothing else behind.
  saveModel(path, smallFile(4));
  t.notDeepEqual(readFileSync(path), before);
  t.deepEqual(loadModel(path).params, smallFile(4).params);
  t.deepEqual(readdirSync(dir), ["m.bwk"]);
});

test("saving into a missing directory or over a directory is a one-line error and creates nothing", (t) => {
  const dir = tmp(t);
  const target = join(dir, "missing", "m.bwk");
  const e = t.throws(() => saveModel(target, smallFile()));
  t.regex(e!.message, /write failed/);
  t.false(e!.message.includes("\n"));
  t.false(existsSync(join(dir, "missing")));
  const sub = join(dir, "sub");
  mkdirSync(join(sub, "m.bwk"), { recursive: true });
  const e2 = t.throws(() => saveModel(join(sub, "m.bwk"), smallFile()));
  t.regex(e2!.message, /write failed/);
  t.deepEqual(readdirSync(sub), ["m.bwk"]);
  t.deepEqual(readdirSync(dir).sort(), ["sub"]);
});
