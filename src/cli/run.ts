// What every command shares: global options, output (JSON or text), errors and Ctrl-C.

export interface GlobalOptions {
  json?: boolean;
  quiet?: boolean;
  simd?: string;
}

/** Prints the result: one JSON object on stdout with --json, else human lines. */
export function emit(o: GlobalOptions, result: unknown, text: () => string[]): void {
  if (o.json) process.stdout.write(JSON.stringify(result) + "\n");
  else for (const line of text()) process.stdout.write(line + "\n");
}

/**
 * Runs long work that can stop cleanly: the first Ctrl-C (SIGINT/SIGTERM) asks it to stop at
 * the next safe point; a second one exits at once.
 */
export async function interruptible<T>(work: (stopRequested: () => boolean) => Promise<T>): Promise<T> {
  let stop = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write(`\n${sig}: stopping after the current step (again to abort)\n`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await work(() => stop);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
