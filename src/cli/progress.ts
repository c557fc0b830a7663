// Progress for long work: a live bar on a terminal (cli-progress, on stderr), plain lines in
// logs and CI (every 10 % or 15 s), nothing with --quiet. stdout stays free for JSON.
import cliProgress from "cli-progress";

export interface Progress {
  /** done of total; `status` is a short text (loss, speed) shown beside the count. */
  update(done: number, status?: string): void;
  stop(): void;
}

export interface ProgressOptions {
  quiet?: boolean;
  /** Force plain lines even on a terminal (tests). */
  plain?: boolean;
  stream?: NodeJS.WriteStream;
}

export function createProgress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { update() {}, stop() {} };
  if (stream.isTTY && !opts.plain && !process.env.CI) {
    const bar = new cliProgress.SingleBar({
      stream,
      format: `${label} [{bar}] {percentage}% {value}/{total} {status} eta {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { status: "" });
    return {
      update: (done, status = "") => bar.update(done, { status }),
      stop: () => bar.stop(),
    };
  }
  let lastPct = -1;
  let lastTime = 0;
  let lastDone = 0;
  let lastStatus = "";
  const line = (done: number, status: string) =>
    stream.write(`${label} ${String(Math.floor((100 * done) / Math.max(total, 1))).padStart(3)}% ${done}/${total}${status ? " " + status : ""}\n`);
  return {
    update(done, status = "") {
      lastDone = done;
      lastStatus = status;
      const pct = Math.floor((10 * done) / Math.max(total, 1));
      const now = Date.now();
      if (pct > lastPct || now - lastTime > 15000) {
        lastPct = pct;
        lastTime = now;
        line(done, status);
      }
    },
    stop() {
      if (lastPct < 10) line(lastDone, lastStatus);
    },
  };
}
