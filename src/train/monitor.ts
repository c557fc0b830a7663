// Robust monitoring between epochs: PGD and FGSM accuracy on a fixed set of samples (a
// validation split, or a fixed subset of the training set). It keeps the weights of the
// most robust epoch, so that training can stop early on robust overfitting (Rice et al.)
// and recover from catastrophic overfitting in FGSM training (Wong et al.): the signature
// of the latter is PGD accuracy collapsing while FGSM accuracy rises.
import type { Dataset } from "../data/dataset.js";
import type { PgdOptions, ThreatModel } from "../attack/threat.js";
import type { ShardedEngine } from "./engine.js";
import { attackStream } from "../attack/threat.js";

export interface MonitorRecord {
  epoch: number;
  pgdAccuracy: number;
  fgsmAccuracy: number;
}

export interface MonitorVerdict extends MonitorRecord {
  improved: boolean;
  /** PGD accuracy fell below half its best while FGSM accuracy did not fall. */
  collapsed: boolean;
}

export class RobustMonitor {
  readonly history: MonitorRecord[] = [];
  best: (MonitorRecord & { params: Float32Array }) | null = null;
  collapse: MonitorRecord | null = null;
  private readonly pgdOpts: PgdOptions;
  private readonly fgsmOpts: PgdOptions;

  constructor(
    private readonly engine: ShardedEngine,
    private readonly data: Dataset,
    private readonly indices: Uint32Array,
    threat: ThreatModel,
    private readonly seed: number,
    readonly steps = 10,
  ) {
    this.pgdOpts = { ...threat, alpha: (2.5 * threat.eps) / steps, steps, restarts: 1, randomStart: true };
    this.fgsmOpts = { ...threat, alpha: threat.eps, steps: 1, restarts: 1, randomStart: false };
  }

  get samples(): number {
    return this.indices.length;
  }

  async check(epoch: number): Promise<MonitorVerdict> {
    const acc = (a: number[]) => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);
    const stream = attackStream(0x60a2d, epoch);
    const pgd = acc((await this.engine.attack(this.data, this.indices, this.pgdOpts, this.seed, stream)).robust);
    const fgsm = acc((await this.engine.attack(this.data, this.indices, this.fgsmOpts, this.seed, stream)).robust);
    const rec = { epoch, pgdAccuracy: pgd, fgsmAccuracy: fgsm };
    this.history.push(rec);
    const best = this.best;
    const collapsed = !!best && best.pgdAccuracy >= 0.2 && pgd < 0.5 * best.pgdAccuracy && fgsm >= best.fgsmAccuracy - 0.02;
    const improved = !best || pgd > best.pgdAccuracy;
    if (improved) this.best = { ...rec, params: this.engine.model.params.f32.slice() };
    if (collapsed && !this.collapse) this.collapse = rec;
    return { ...rec, improved, collapsed };
  }

  /** Puts the most robust epoch's weights back; returns that epoch (or null if none). */
  restoreBest(): number | null {
    if (!this.best) return null;
    this.engine.model.params.f32.set(this.best.params);
    return this.best.epoch;
  }
}
