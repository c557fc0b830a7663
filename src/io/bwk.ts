// The native model file (.bwk): versioned, self-describing, checksummed.
//
//   bytes 0..7    magic "BULWARK\0"
//   bytes 8..11   format version (u32 LE)
//   bytes 12..15  header length H (u32 LE, a multiple of 4)
//   16..16+H      JSON header: architecture, parameter shapes, tensor table, metadata
//   then          each tensor of the table in order, float32 LE
//   last 4 bytes  CRC-32 of everything before them
//
// The tensor "params" holds the model's flat parameter buffer; checkpoints add optimiser
// state as more tensors. Every field is checked on load, and a problem is one line naming it.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { writeFileAtomic } from "../core/files.js";
import type { Architecture } from "../nn/architectures.js";
import { buildLayers } from "../nn/build.js";
import { Model } from "../nn/model.js";

export const MAGIC = Buffer.from("BULWARK\0", "latin1");
export const VERSION = 1;
const PREFIX = 16;
const MAX_HEADER = 16 * 2 ** 20;
const MAX_TENSOR = 2 ** 30; // floats; a hostile header cannot make us allocate more than this

export interface ModelFile {
  architecture: Architecture;
  params: Float32Array;
  /** Extra named tensors (optimiser state in checkpoints). */
  tensors?: Record<string, Float32Array>;
  meta?: Record<string, unknown>;
}

interface Header {
  format: "bulwark-model";
  architecture: Architecture;
  paramCount: number;
  paramShapes: { layer: number; name: string; shape: number[] }[];
  tensors: { name: string; length: number }[];
  weightsHash: string;
  meta: Record<string, unknown>;
}

/** SHA-256 of the parameter bytes (hex): equal hashes mean bit-identical weights. */
export function weightsHash(params: Float32Array): string {
  return createHash("sha256").update(new Uint8Array(params.buffer, params.byteOffset, params.byteLength)).digest("hex");
}

function paramShapes(arch: Architecture): Header["paramShapes"] {
  return buildLayers(arch.inputShape, arch.layers).flatMap((l, i) =>
    l.paramShapes().map((p) => ({ layer: i, name: p.name, shape: p.shape })));
}

export function encodeModel(file: ModelFile): Buffer {
  const tensors: [string, Float32Array][] = [["params", file.params], ...Object.entries(file.tensors ?? {})];
  const shapes = paramShapes(file.architecture);
  const expected = shapes.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  if (expected !== file.params.length) {
    throw new Error(`parameter count mismatch: architecture needs ${expected}, got ${file.params.length}`);
  }
  for (const [name, t] of tensors) assertFinite(t, name);
  const header: Header = {
    format: "bulwark-model",
    architecture: file.architecture,
    paramCount: file.params.length,
    paramShapes: shapes,
    tensors: tensors.map(([name, t]) => ({ name, length: t.length })),
    weightsHash: weightsHash(file.params),
    meta: file.meta ?? {},
  };
  let json = Buffer.from(JSON.stringify(header), "utf8");
  if (json.length % 4) json = Buffer.concat([json, Buffer.alloc(4 - (json.length % 4), 0x20)]);
  const dataBytes = tensors.reduce((s, [, t]) => s + t.length * 4, 0);
  const out = Buffer.alloc(PREFIX + json.length + dataBytes + 4);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(VERSION, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, PREFIX);
  let off = PREFIX + json.length;
  for (const [, t] of tensors) {
    const view = new Float32Array(out.buffer, out.byteOffset + off, t.length);
    view.set(t); // little-endian on every platform Node runs SIMD WASM on
    off += t.length * 4;
  }
  out.writeUInt32LE(crc32(out.subarray(0, off)), off);
  return out;
}

export function decodeModel(buf: Buffer, source = "model"): ModelFile & { weightsHash: string } {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (buf.length < PREFIX + 4) fail(`not a bulwark model (file is ${buf.length} bytes)`);
  if (!buf.subarray(0, 8).equals(MAGIC)) fail("not a bulwark model (wrong magic bytes)");
  const version = buf.readUInt32LE(8);
  if (version !== VERSION) fail(`unsupported model format version ${version} (this build reads ${VERSION})`);
  const h = buf.readUInt32LE(12);
  if (h > MAX_HEADER || h % 4 !== 0) fail(`corrupt header length ${h}`);
  if (PREFIX + h + 4 > buf.length) fail(`truncated file (header says ${h} bytes, file has ${buf.length})`);
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(PREFIX, PREFIX + h).toString("utf8"));
  } catch {
    return fail("corrupt header (not valid JSON)");
  }
  if (!header || header.format !== "bulwark-model" || !Array.isArray(header.tensors)) fail("corrupt header (missing fields)");
  const arch = header.architecture as Partial<Architecture> | null | undefined;
  if (!arch || typeof arch !== "object" || typeof arch.name !== "string" || !Array.isArray(arch.inputShape) || !Array.isArray(arch.layers)) {
    fail("corrupt header (no valid architecture: needs name, inputShape and layers)");
  }
  let total = 0;
  for (const t of header.tensors) {
    if (typeof t?.name !== "string" || !Number.isInteger(t.length) || t.length < 0 || t.length > MAX_TENSOR) {
      fail(`corrupt tensor table entry ${JSON.stringify(t)}`);
    }
    total += t.length * 4;
  }
  const expectedSize = PREFIX + h + total + 4;
  if (buf.length < expectedSize) fail(`truncated file (expected ${expectedSize} bytes, got ${buf.length})`);
  if (buf.length > expectedSize) fail(`trailing data (expected ${expectedSize} bytes, got ${buf.length})`);
  const stored = buf.readUInt32LE(expectedSize - 4);
  if (crc32(buf.subarray(0, expectedSize - 4)) !== stored) fail("checksum mismatch (file is corrupt)");
  // The architecture must build, and its parameter shapes must match the header's.
  let shapes: Header["paramShapes"];
  try {
    shapes = paramShapes(header.architecture);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (JSON.stringify(shapes) !== JSON.stringify(header.paramShapes)) {
    const i = shapes.findIndex((s, j) => JSON.stringify(s) !== JSON.stringify(header.paramShapes?.[j]));
    const want = shapes[i] ?? shapes[shapes.length - 1];
    const got = header.paramShapes?.[i];
    fail(`shape mismatch at layer ${want?.layer} ${want?.name}: architecture needs [${want?.shape}], file has [${got?.shape ?? "nothing"}]`);
  }
  const needed = shapes.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  const tensors: Record<string, Float32Array> = {};
  let off = PREFIX + h;
  for (const t of header.tensors) {
    const copy = new Float32Array(t.length);
    copy.set(new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + t.length * 4)));
    assertFinite(copy, `${source}: tensor '${t.name}'`);
    tensors[t.name] = copy;
    off += t.length * 4;
  }
  const params = tensors.params ?? fail("no 'params' tensor");
  if (params.length !== needed || header.paramCount !== needed) {
    fail(`shape mismatch: architecture needs ${needed} parameters, file has ${params.length}`);
  }
  delete tensors.params;
  return { architecture: header.architecture, params, tensors, meta: header.meta ?? {}, weightsHash: weightsHash(params) };
}

export function saveModel(path: string, file: ModelFile): void {
  writeFileAtomic(path, encodeModel(file));
}

export function loadModel(path: string): ModelFile & { weightsHash: string } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read model (${code === "ENOENT" ? "no such file" : code ?? (e as Error).message})`);
  }
  return decodeModel(buf, path);
}

function assertFinite(t: Float32Array, what: string): void {
  for (let i = 0; i < t.length; i++) {
    if (!Number.isFinite(t[i])) throw new Error(`${what}: non-finite value ${t[i]} at index ${i} (NaN/Inf weights)`);
  }
}

/** A ready-to-run Model from a loaded file. */
export function instantiate(file: ModelFile): Model {
  const model = new Model(file.architecture);
  model.setParams(file.params);
  return model;
}
