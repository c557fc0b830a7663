// Learning-rate schedules as functions of training progress (epochs, fractional).

export type ScheduleConfig =
  | { name: "constant" }
  /** lr × gamma^⌊epoch / every⌋ */
  | { name: "step"; every: number; gamma: number }
  /** One-cycle ("cyclic" in fast adversarial training): 0 → lr linearly until `peak`
   *  (a fraction of training), then linearly back to 0 at the end. */
  | { name: "onecycle"; peak?: number };

export const SCHEDULES = ["constant", "step", "onecycle"] as const;

/** The learning rate at `epoch` (fractional, 0 ≤ epoch ≤ total). */
export function learningRate(s: ScheduleConfig, lr: number, epoch: number, total: number): number {
  switch (s.name) {
    case "constant":
      return lr;
    case "step":
      return lr * s.gamma ** Math.floor(epoch / s.every);
    case "onecycle": {
      const peak = (s.peak ?? 0.4) * total;
      if (epoch <= peak) return peak > 0 ? lr * (epoch / peak) : lr;
      return lr * Math.max(0, (total - epoch) / (total - peak));
    }
    default:
      throw new Error(`unknown schedule '${(s as { name: string }).name}' (expected ${SCHEDULES.join(", ")})`);
  }
}

export function parseSchedule(name: string, opts: { stepEvery?: number; gamma?: number; peak?: number } = {}): ScheduleConfig {
  switch (name) {
    case "constant":
      return { name };
    case "step":
      return { name, every: opts.stepEvery ?? 1, gamma: opts.gamma ?? 0.1 };
    case "onecycle":
    case "cyclic":
      return { name: "onecycle", peak: opts.peak ?? 0.4 };
    default:
      throw new Error(`unknown schedule '${name}' (expected ${SCHEDULES.join(", ")})`);
  }
}
