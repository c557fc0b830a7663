// CSV output (RFC 4180 quoting), written atomically.
import { writeFileAtomic } from "../core/files.js";

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "number" && !Number.isInteger(v) ? String(+v.toPrecision(7)) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: Record<string, unknown>[], columns = Object.keys(rows[0] ?? {})): string {
  return [columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
}

export function writeCsv(path: string, rows: Record<string, unknown>[], columns?: string[]): void {
  writeFileAtomic(path, toCsv(rows, columns));
}
