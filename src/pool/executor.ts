// One interface, several executors: `inline` runs tasks on the calling thread (serverless,
// tests), `pool` on a Piscina pool of worker threads over the same shared memory. Code above
// src/pool never knows which one it has. Results come back in the order of the payloads.
import type { Runtime } from "../core/runtime.js";
import { runTask, type TaskEnv, type TaskTable } from "./task.js";

export interface Executor {
  /** Threads doing the work (0 for inline). */
  readonly workers: number;
  run<R>(task: string, payloads: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

export class InlineExecutor implements Executor {
  readonly workers = 0;
  private readonly env: TaskEnv;

  constructor(rt: Runtime, private readonly table: TaskTable) {
    this.env = { rt, cache: new Map() };
  }

  /** One payload after another (tasks may be async: LP/MILP solvers). */
  async run<R>(task: string, payloads: unknown[]): Promise<R[]> {
    const out: R[] = [];
    for (const p of payloads) out.push(await (runTask(this.table, task, p, this.env) as R | Promise<R>));
    return out;
  }

  async close(): Promise<void> {}
}
