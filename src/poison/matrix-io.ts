// Reading and writing matrices for `bulwark rpca`: CSV (one row per line, comma-separated
// numbers) and a float32 binary ("BWKM" magic, u32 header length, JSON header
// {"rows","cols","dtype":"float32"}, then rows·cols little-endian float32 values).
// Every problem is a one-line error naming the file, line and column.
import { mat, type Mat } from "./linalg.js";

export function parseCsv(text: string, name = "input"): Mat {
  const lines = text.split(/\r?\n/);
  while (lines.length && lines[lines.length - 1].trim() === "") lines.pop();
  if (lines.length === 0) throw new Error(`${name}: empty matrix`);
  let cols = -1;
  const values: number[] = [];
  for (let r = 0; r < lines.length; r++) {
    const line = lines[r];
    if (line.trim() === "") throw new Error(`${name}: line ${r + 1} is empty`);
    const cells = line.split(",");
    if (cols < 0) cols = cells.length;
    else if (cells.length !== cols) throw new Error(`${name}: line ${r + 1} has ${cells.length} values, expected ${cols} (ragged rows)`);
    for (let c = 0; c < cells.length; c++) {
      const cell = cells[c].trim();
      const v = Number(cell);
      if (cell === "" || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(cell)) {
        throw new Error(`${name}: line ${r + 1}, column ${c + 1}: '${cell.slice(0, 20)}' is not a finite number`);
      }
      values.push(v);
    }
  }
  return mat(lines.length, cols, Float64Array.from(values));
}

export function formatCsv(a: Mat): string {
  const out: string[] = [];
  for (let i = 0; i < a.rows; i++) {
    const row: string[] = [];
    for (let j = 0; j < a.cols; j++) row.push(String(a.data[i * a.cols + j]));
    out.push(row.join(","));
  }
  return out.join("\n") + "\n";
}

const MAGIC = "BWKM";

export function encodeBinary(a: Mat): Uint8Array {
  const header = Buffer.from(JSON.stringify({ rows: a.rows, cols: a.cols, dtype: "float32" }));
  const out = Buffer.alloc(8 + header.length + 4 * a.data.length);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(header.length, 4);
  header.copy(out, 8);
  const f = new Float32Array(a.data);
  Buffer.from(f.buffer, f.byteOffset, f.byteLength).copy(out, 8 + header.length);
  return out;
}

export function decodeBinary(buf: Uint8Array, name = "input"): Mat {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8 || b.toString("latin1", 0, 4) !== MAGIC) throw new Error(`${name}: not a bulwark float32 matrix (no ${MAGIC} magic)`);
  const hl = b.readUInt32LE(4);
  if (8 + hl > b.length) throw new Error(`${name}: truncated header`);
  let h: { rows?: unknown; cols?: unknown; dtype?: unknown };
  try {
    h = JSON.parse(b.toString("utf8", 8, 8 + hl));
  } catch {
    throw new Error(`${name}: header is not JSON`);
  }
  const rows = h.rows, cols = h.cols;
  if (!(Number.isSafeInteger(rows) && Number.isSafeInteger(cols) && (rows as number) > 0 && (cols as number) > 0)) throw new Error(`${name}: header needs positive integer rows and cols`);
  if (h.dtype !== "float32") throw new Error(`${name}: dtype must be float32, got ${JSON.stringify(h.dtype)}`);
  const count = (rows as number) * (cols as number);
  if (b.length !== 8 + hl + 4 * count) throw new Error(`${name}: expected ${count} float32 values, file has ${(b.length - 8 - hl) / 4}`);
  const copy = new Uint8Array(b.subarray(8 + hl));
  const f = new Float32Array(copy.buffer, 0, count);
  const d = Float64Array.from(f);
  for (let i = 0; i < count; i++) if (!Number.isFinite(d[i])) throw new Error(`${name}: non-finite value at row ${Math.floor(i / (cols as number)) + 1}, column ${(i % (cols as number)) + 1}`);
  return mat(rows as number, cols as number, d);
}

export function parseMatrix(buf: Uint8Array, name: string): Mat {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length >= 4 && b.toString("latin1", 0, 4) === MAGIC) return decodeBinary(buf, name);
  return parseCsv(b.toString("utf8"), name);
}
