// Running the `bulwark` command as a child process in tests: a few at a time, with the
// checks every CLI test makes (one JSON line on stdout; one-line errors with exit codes).
import type { ExecutionContext } from "ava";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BIN = join(ROOT, "bin", "bulwark.js");
export const MAIN = join(ROOT, "dist", "cli", "main.js");

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

// Each training process holds MNIST in memory (~350 MB): run at most a few at once.
const MAX_CHILDREN = 3;
let running = 0;
const waiting: (() => void)[] = [];

export async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_CHILDREN) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

export function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.BULWARK_DEBUG; // would add a stack trace to stderr
  delete env.BULWARK_SIMD;
  delete env.CI;
  return env;
}

export function bulwark(args: string[], timeout = 120_000): Promise<Result> {
  return slot(() => new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(), timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  }));
}

export function tmp(t: ExecutionContext): string {
  const d = mkdtempSync(join(tmpdir(), "bulwark-cli-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Exactly one JSON object on stdout. */
export function json(t: ExecutionContext, r: Result): Record<string, any> {
  t.is(r.code, 0, `exit ${r.code}, stderr: ${r.stderr}`);
  const lines = r.stdout.split("\n").filter((l) => l !== "");
  t.is(lines.length, 1, `stdout should be one JSON line, got:\n${r.stdout}`);
  const v = JSON.parse(lines[0]);
  t.is(typeof v, "object");
  return v;
}

/** A failure: the exit code, one stderr line starting with 'bulwark: ', empty stdout. */
export function failsWith(t: ExecutionContext, r: Result, code: number, re: RegExp, what: string): void {
  t.is(r.code, code, `${what}: exit code ${r.code} (stderr: ${r.stderr})`);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  t.is(lines.length, 1, `${what}: stderr should be one line, got:\n${r.stderr}`);
  t.true(r.stderr.startsWith("bulwark: "), `${what}: ${r.stderr}`);
  t.true(r.stderr.endsWith("\n"), `${what}: stderr line is terminated`);
  t.regex(r.stderr, re, what);
  t.is(r.stdout, "", `${what}: nothing on stdout`);
}

