// Atomic file writes: the bytes go to a uniquely named temporary file in the target's own
// directory (so the rename never crosses a filesystem), are flushed, and only then renamed
// over the target. A crash or an error leaves either the old file or the new one, never half
// of one, and never a stray temporary file when the error is ours to catch.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

/**
 * Writes `data` (or several chunks, in order, so big buffers are never concatenated) to
 * `path` atomically. Throws a one-line error on failure.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const chunks = typeof data === "string" ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
  // pid + random suffix: concurrent writers (parallel test files, two CLI runs filling the same
  // cache) never share a temporary file.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx");
    for (const c of chunks) {
      let off = 0;
      while (off < c.byteLength) off += writeSync(fd, c, off, c.byteLength - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing; the original error is the one to report */
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or already renamed */
    }
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new Error(`${path}: write failed (${why})`);
  }
}
