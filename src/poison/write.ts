// A poisoned dataset on disk: the standard four IDX files (so `--data DIR` reads it back) and
// manifest.json naming the poisoned training samples. Pixels go back to bytes (×255, rounded);
// every file is written atomically.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../core/files.js";
import type { Dataset } from "../data/dataset.js";
import { IDX_NAMES } from "../data/directory.js";
import { writeIdxImages, writeIdxLabels } from "../data/idx.js";

function toBytes(ds: Dataset): Uint8Array {
  const out = new Uint8Array(ds.x.length);
  for (let i = 0; i < ds.x.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, ds.x[i])) * 255);
  return out;
}

export function writePoisonedSet(dir: string, train: Dataset, test: Dataset, manifest: Record<string, unknown>): void {
  if (train.shape[0] !== 1) throw new Error(`IDX output needs one channel, got ${train.shape[0]}`);
  mkdirSync(dir, { recursive: true });
  const [, h, w] = train.shape;
  writeIdxImages(join(dir, IDX_NAMES.trainImages), toBytes(train), train.n, h, w);
  writeIdxLabels(join(dir, IDX_NAMES.trainLabels), train.y);
  writeIdxImages(join(dir, IDX_NAMES.testImages), toBytes(test), test.n, h, w);
  writeIdxLabels(join(dir, IDX_NAMES.testLabels), test.y);
  writeFileAtomic(join(dir, "manifest.json"), JSON.stringify(manifest, null, 1) + "\n");
}
