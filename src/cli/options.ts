// Option parsers and checks shared by the commands: each bad value is a one-line usage error.
import { InvalidArgumentError } from "commander";
import { accessSync, constants, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

export function int(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^[+]?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got '${v}'`);
    }
    return n;
  };
}

export function num(name: string, opts: { min?: number; positive?: boolean } = {}) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got '${v}'`);
    if (opts.positive && !(n > 0)) throw new InvalidArgumentError(`${name} must be positive, got '${v}'`);
    if (opts.min !== undefined && n < opts.min) throw new InvalidArgumentError(`${name} must be ≥ ${opts.min}, got '${v}'`);
    return n;
  };
}

export function oneOf(name: string, values: readonly string[]) {
  return (v: string): string => {
    if (!values.includes(v)) throw new InvalidArgumentError(`${name} must be one of ${values.join(", ")}, got '${v}'`);
    return v;
  };
}

/** Fails before any work when an output file could not be written. */
export function checkWritable(path: string): void {
  const dir = dirname(resolve(path));
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new Error(`cannot write ${path}: directory ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new Error(`cannot write ${path}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new Error(`cannot write ${path}: directory ${dir} is not writable`);
  }
  try {
    if (statSync(path).isDirectory()) throw new Error(`cannot write ${path}: it is a directory`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

/** --workers: 'auto' (every core) or a count (0 = in-process). */
export function workersOption(v: string): string {
  if (v !== "auto" && !/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`--workers must be 'auto' or a non-negative integer, got '${v}'`);
  return v.trim();
}
