// The IDX file format (LeCun's MNIST format): a big-endian header — magic 0x000008NN, where
// 0x08 says "unsigned bytes" and NN is the number of dimensions — then NN big-endian u32
// dimensions, then the bytes. Every file is checked completely before any of it is used, and
// every problem is one line naming the file, because a mangled dataset (or a poisoned one a
// later step wrote) must fail loudly rather than train a model on garbage.
import { readFileSync, statSync } from "node:fs";
import { writeFileAtomic } from "../core/files.js";

export const IDX_LABELS_MAGIC = 0x00000801;
export const IDX_IMAGES_MAGIC = 0x00000803;

/** Images are at most this many pixels a side; anything larger is a corrupt header. */
export const MAX_SIDE = 4096;
/** Files larger than this are refused before reading (2 GiB: one Node Buffer's limit). */
export const MAX_FILE_BYTES = 2 ** 31 - 1;

export interface IdxImages {
  n: number;
  rows: number;
  cols: number;
  /** n × rows × cols pixels, row-major. */
  data: Uint8Array;
}

export interface IdxLabels {
  n: number;
  labels: Uint8Array;
}

function hex(m: number): string {
  return "0x" + (m >>> 0).toString(16).padStart(8, "0");
}

function header(buf: Uint8Array, file: string, magic: number, what: string): number[] {
  const ndims = magic & 0xff;
  const hdr = 4 + 4 * ndims;
  if (buf.byteLength >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    throw new Error(`${file}: is gzip-compressed; gunzip it first`);
  }
  if (buf.byteLength < 4) throw new Error(`${file}: truncated (${buf.byteLength} bytes, no IDX header)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const got = dv.getUint32(0, false);
  if (got !== magic) {
    const hint =
      got === IDX_LABELS_MAGIC ? " — this is a label file" : got === IDX_IMAGES_MAGIC ? " — this is an image file" : "";
    throw new Error(`${file}: wrong magic ${hex(got)} (expected ${hex(magic)}, IDX ${what})${hint}`);
  }
  if (buf.byteLength < hdr) throw new Error(`${file}: truncated (${buf.byteLength} bytes, header needs ${hdr})`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(dv.getUint32(4 + 4 * i, false));
  if (dims.some((d) => d === 0)) throw new Error(`${file}: zero dimension in header (${dims.join("×")})`);
  // Doubles hold the product exactly far beyond 2^31, so overflow cannot hide an absurd header.
  const body = dims.reduce((a, b) => a * b, 1);
  if (hdr + body > MAX_FILE_BYTES) throw new Error(`${file}: absurd dimensions ${dims.join("×")} in header`);
  if (buf.byteLength !== hdr + body) {
    const kind = buf.byteLength < hdr + body ? "truncated" : "size mismatch";
    throw new Error(
      `${file}: ${kind} (header ${dims.join("×")} implies ${hdr + body} bytes, file has ${buf.byteLength})`,
    );
  }
  return dims;
}

/** Parses an IDX u8 image file (magic 0x00000803, dims n × rows × cols). */
export function parseIdxImages(buf: Uint8Array, file: string): IdxImages {
  const [n, rows, cols] = header(buf, file, IDX_IMAGES_MAGIC, "u8 images");
  if (rows > MAX_SIDE || cols > MAX_SIDE) throw new Error(`${file}: absurd image size ${rows}×${cols} in header`);
  return { n, rows, cols, data: buf.subarray(16) };
}

/** Parses an IDX u8 label file (magic 0x00000801) and checks every label is in 0..classes-1. */
export function parseIdxLabels(buf: Uint8Array, file: string, classes = 10): IdxLabels {
  const [n] = header(buf, file, IDX_LABELS_MAGIC, "u8 labels");
  const labels = buf.subarray(8);
  for (let i = 0; i < n; i++) {
    if (labels[i] >= classes) {
      throw new Error(`${file}: label ${labels[i]} at index ${i} is outside 0..${classes - 1}`);
    }
  }
  return { n, labels };
}

function readChecked(file: string): Uint8Array {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error("not a regular file");
    size = st.size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${file}: ${code === "ENOENT" ? "no such file" : (e as Error).message.split("\n")[0]}`);
  }
  if (size > MAX_FILE_BYTES) throw new Error(`${file}: absurd size ${size} bytes for an IDX file`);
  return readFileSync(file);
}

export function readIdxImages(file: string): IdxImages {
  return parseIdxImages(readChecked(file), file);
}

export function readIdxLabels(file: string, classes = 10): IdxLabels {
  return parseIdxLabels(readChecked(file), file, classes);
}

/** Reads an image file and its label file and checks they describe the same number of samples. */
export function readIdxPair(
  imagesFile: string,
  labelsFile: string,
  classes = 10,
): { images: IdxImages; labels: IdxLabels } {
  const images = readIdxImages(imagesFile);
  const labels = readIdxLabels(labelsFile, classes);
  if (images.n !== labels.n) {
    throw new Error(`${labelsFile}: count mismatch: ${labels.n} labels for ${images.n} images in ${imagesFile}`);
  }
  return { images, labels };
}

function beU32(values: number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setUint32(4 * i, v, false));
  return out;
}

function checkCount(file: string, what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`${file}: bad ${what} ${v} (expected 1..${max})`);
}

/**
 * Writes an IDX u8 image file atomically (temp file + rename). `data` holds n × rows × cols
 * pixels. Arguments are checked before anything touches the disk.
 */
export function writeIdxImages(file: string, data: Uint8Array, n: number, rows: number, cols: number): void {
  checkCount(file, "image count", n, MAX_FILE_BYTES);
  checkCount(file, "row count", rows, MAX_SIDE);
  checkCount(file, "column count", cols, MAX_SIDE);
  if (data.length !== n * rows * cols) {
    throw new Error(`${file}: ${data.length} pixels given for ${n}×${rows}×${cols} = ${n * rows * cols}`);
  }
  if (16 + data.length > MAX_FILE_BYTES) throw new Error(`${file}: absurd dimensions ${n}×${rows}×${cols}`);
  writeFileAtomic(file, [beU32([IDX_IMAGES_MAGIC, n, rows, cols]), data]);
}

/** Writes an IDX u8 label file atomically. Labels must be integers in 0..255. */
export function writeIdxLabels(file: string, labels: Uint8Array | ArrayLike<number>): void {
  checkCount(file, "label count", labels.length, MAX_FILE_BYTES - 8);
  let bytes: Uint8Array;
  if (labels instanceof Uint8Array) {
    bytes = labels;
  } else {
    // A plain or Int32 array: copy, refusing anything a byte would silently wrap.
    bytes = new Uint8Array(labels.length);
    for (let i = 0; i < labels.length; i++) {
      const v = labels[i];
      if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`${file}: label ${v} at index ${i} is not a byte`);
      bytes[i] = v;
    }
  }
  writeFileAtomic(file, [beU32([IDX_LABELS_MAGIC, bytes.length]), bytes]);
}
