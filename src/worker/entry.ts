// The pool's worker: the tasks of every subject, served over the shared WASM memory.
// Piscina loads the compiled dist/worker/entry.js and calls its default export per task.
import { serve } from "../pool/worker-runtime.js";
import { ATTACK_TASKS } from "../attack/tasks.js";
import { CERTIFY_TASKS } from "../certify/tasks.js";
import { TRAIN_TASKS } from "../train/tasks.js";

export const TASKS = { ...TRAIN_TASKS, ...ATTACK_TASKS, ...CERTIFY_TASKS };

export default serve(TASKS);
