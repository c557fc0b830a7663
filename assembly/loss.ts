// Softmax cross-entropy over rows of logits, and argmax.

/**
 * For each row r: loss_r = logsumexp(z_r) − z_r[y_r], computed with the max subtracted so
 * that large logits do not overflow. When dz ≠ 0 it also writes the gradient
 * dz_r = scale · (softmax(z_r) − onehot(y_r)). When lossOut ≠ 0 it stores each loss_r.
 * Returns Σ_r loss_r in float64.
 */
export function softmaxCrossEntropy(
  z: usize, labels: usize, rows: i32, cols: i32, dz: usize, scale: f32, lossOut: usize,
): f64 {
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const zr = z + <usize>r * <usize>cols * 4;
    let m: f32 = load<f32>(zr);
    for (let j = 1; j < cols; j++) m = max<f32>(m, load<f32>(zr + <usize>j * 4));
    let s: f64 = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(<f64>(load<f32>(zr + <usize>j * 4) - m));
    const y = load<i32>(labels + <usize>r * 4);
    const lse = <f64>m + Math.log(s);
    const loss = lse - <f64>load<f32>(zr + <usize>y * 4);
    total += loss;
    if (lossOut != 0) store<f32>(lossOut + <usize>r * 4, <f32>loss);
    if (dz != 0) {
      const dr = dz + <usize>r * <usize>cols * 4;
      for (let j = 0; j < cols; j++) {
        const p = <f32>(Math.exp(<f64>load<f32>(zr + <usize>j * 4) - lse));
        store<f32>(dr + <usize>j * 4, scale * (j == y ? p - 1 : p));
      }
    }
  }
  return total;
}

// out[r] = index of the largest entry of row r (the first one on ties).
export function argmaxRows(x: usize, rows: i32, cols: i32, out: usize): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * <usize>cols * 4;
    let best = 0;
    let bv = load<f32>(xr);
    for (let j = 1; j < cols; j++) {
      const v = load<f32>(xr + <usize>j * 4);
      if (v > bv) { bv = v; best = j; }
    }
    store<i32>(out + <usize>r * 4, best);
  }
}
