// Evaluation hygiene: signs that a robustness number is an artefact of a weak or masked
// attack rather than a property of the model (gradient masking, obfuscated gradients).
export interface HygieneInput {
  /** Robust accuracy (0..1) per diagnostic attack, where it was run. */
  fgsm?: number;
  pgdZeroStart?: number;
  pgdRandomStart?: number;
  /** Samples the black-box stage broke after every white-box stage failed. */
  blackBoxOnly?: number;
  samples?: number;
  /** The robustness curve, ε ascending. */
  curve?: { eps: number; robustAccuracy: number }[];
  norm?: "linf" | "l2";
}

export function hygieneWarnings(h: HygieneInput): string[] {
  const w: string[] = [];
  const pts = (a: number, b: number) => (100 * (a - b)).toFixed(1);
  // A stray sample is normal (AutoAttack's Square stage often adds one); more than 1 % is not.
  if (h.blackBoxOnly && h.blackBoxOnly > 0.01 * (h.samples ?? 0)) {
    w.push(`gradient masking suspected: the black-box attack broke ${h.blackBoxOnly} of ${h.samples ?? "?"} samples that every white-box attack missed`);
  }
  if (h.pgdZeroStart !== undefined && h.pgdRandomStart !== undefined && h.pgdZeroStart - h.pgdRandomStart > 0.05) {
    w.push(`gradient masking suspected: PGD from a random start beats PGD from the clean point by ${pts(h.pgdZeroStart, h.pgdRandomStart)} points`);
  }
  const pgdBest = Math.min(h.pgdZeroStart ?? 1, h.pgdRandomStart ?? 1);
  if (h.fgsm !== undefined && (h.pgdZeroStart !== undefined || h.pgdRandomStart !== undefined) && h.fgsm - pgdBest > 0.2) {
    w.push(`FGSM accuracy (${(100 * h.fgsm).toFixed(1)} %) is far above PGD's (${(100 * pgdBest).toFixed(1)} %): a single gradient step is misleading here (catastrophic overfitting or masking)`);
  }
  if (h.curve && h.curve.length > 1) {
    const last = h.curve[h.curve.length - 1];
    const large = h.norm === "l2" ? last.eps >= 10 : last.eps >= 0.5;
    if (large && last.robustAccuracy > 0.1) {
      w.push(`robust accuracy is still ${(100 * last.robustAccuracy).toFixed(1)} % at ε=${last.eps}, where any classifier should be broken: the attack is too weak or the gradients are masked`);
    }
    for (let i = 1; i < h.curve.length; i++) {
      if (h.curve[i].robustAccuracy > h.curve[i - 1].robustAccuracy + 0.02) {
        w.push(`robust accuracy rises from ε=${h.curve[i - 1].eps} to ε=${h.curve[i].eps}: a stronger budget should never help the model (attack not converging)`);
        break;
      }
    }
  }
  return w;
}
