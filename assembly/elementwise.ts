// Elementwise and reduction kernels over float32 arrays. Pointers are byte addresses;
// n counts elements. Main loops run 4 lanes at a time with a scalar tail.

// y[r, :] += bias for each of `rows` rows of width `cols`.
export function biasAddRows(y: usize, bias: usize, rows: i32, cols: i32): void {
  const c4 = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const row = y + <usize>r * <usize>cols * 4;
    let j = 0;
    for (; j < c4; j += 4) {
      const p = row + <usize>j * 4;
      v128.store(p, f32x4.add(v128.load(p), v128.load(bias + <usize>j * 4)));
    }
    for (; j < cols; j++) {
      const p = row + <usize>j * 4;
      store<f32>(p, load<f32>(p) + load<f32>(bias + <usize>j * 4));
    }
  }
}

// db[j] (+)= Σ_r dy[r, j]  (the bias gradient of a dense layer).
export function sumRows(dy: usize, db: usize, rows: i32, cols: i32, accumulate: i32): void {
  if (accumulate == 0) memory.fill(db, 0, <usize>cols * 4);
  const c4 = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const row = dy + <usize>r * <usize>cols * 4;
    let j = 0;
    for (; j < c4; j += 4) {
      const p = db + <usize>j * 4;
      v128.store(p, f32x4.add(v128.load(p), v128.load(row + <usize>j * 4)));
    }
    for (; j < cols; j++) {
      const p = db + <usize>j * 4;
      store<f32>(p, load<f32>(p) + load<f32>(row + <usize>j * 4));
    }
  }
}

// y[b, c, :] += bias[c] for NCHW tensors (channel bias of a convolution).
export function biasAddChannels(y: usize, bias: usize, batch: i32, channels: i32, plane: i32): void {
  const p4 = plane & ~3;
  let p = y;
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      const bv = load<f32>(bias + <usize>c * 4);
      const v = f32x4.splat(bv);
      let i = 0;
      for (; i < p4; i += 4) {
        v128.store(p, f32x4.add(v128.load(p), v));
        p += 16;
      }
      for (; i < plane; i++) {
        store<f32>(p, load<f32>(p) + bv);
        p += 4;
      }
    }
  }
}

// db[c] (+)= Σ_{b, i} dy[b, c, i]  (the bias gradient of a convolution).
export function sumChannels(dy: usize, db: usize, batch: i32, channels: i32, plane: i32, accumulate: i32): void {
  if (accumulate == 0) memory.fill(db, 0, <usize>channels * 4);
  const p4 = plane & ~3;
  let p = dy;
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      let acc = f32x4.splat(0);
      let i = 0;
      for (; i < p4; i += 4) {
        acc = f32x4.add(acc, v128.load(p));
        p += 16;
      }
      let s: f32 = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) +
        f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
      for (; i < plane; i++) {
        s += load<f32>(p);
        p += 4;
      }
      const q = db + <usize>c * 4;
      store<f32>(q, load<f32>(q) + s);
    }
  }
}

// y = max(x, 0); x and y may alias.
export function reluForward(x: usize, y: usize, n: i32): void {
  const z = f32x4.splat(0);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i * 4;
    v128.store(y + o, f32x4.max(v128.load(x + o), z));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(y + o, max<f32>(load<f32>(x + o), 0));
  }
}

// dx = dy where the forward output y > 0, else 0; dx and dy may alias.
export function reluBackward(y: usize, dy: usize, dx: usize, n: i32): void {
  const z = f32x4.splat(0);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i * 4;
    const mask = f32x4.gt(v128.load(y + o), z);
    v128.store(dx + o, v128.and(v128.load(dy + o), mask));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(dx + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
  }
}

// y += alpha * x
export function axpy(n: i32, alpha: f32, x: usize, y: usize): void {
  const av = f32x4.splat(alpha);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i * 4;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(av, v128.load(x + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

// x *= alpha
export function scale(n: i32, alpha: f32, x: usize): void {
  const av = f32x4.splat(alpha);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i * 4;
    v128.store(x + o, f32x4.mul(av, v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    store<f32>(x + o, alpha * load<f32>(x + o));
  }
}

// Σ x[i]², accumulated in float64 so that large gradients do not lose their tail.
export function sumSquares(n: i32, x: usize): f64 {
  let s: f64 = 0;
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const v = v128.load(x + <usize>i * 4);
    const sq = f32x4.mul(v, v);
    s += <f64>(f32x4.extract_lane(sq, 0) + f32x4.extract_lane(sq, 1)) +
      <f64>(f32x4.extract_lane(sq, 2) + f32x4.extract_lane(sq, 3));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + <usize>i * 4);
    s += <f64>(v * v);
  }
  return s;
}

// Count of entries that are NaN or ±Inf (used to reject bad weights and data).
export function countNonFinite(n: i32, x: usize): i32 {
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + <usize>i * 4);
    if (!isFinite<f32>(v)) bad++;
  }
  return bad;
}

// SGD with momentum (PyTorch convention, weight decay folded into the gradient):
//   g ← g + wd·p;  v ← μ·v + g;  p ← p − lr·(nesterov ? g + μ·v : v)
export function sgdStep(n: i32, p: usize, g: usize, v: usize, lr: f32, momentum: f32, weightDecay: f32, nesterov: i32): void {
  const n4 = n & ~3;
  const wd4 = f32x4.splat(weightDecay);
  const mu4 = f32x4.splat(momentum);
  const lr4 = f32x4.splat(lr);
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i * 4;
    const pi = v128.load(p + o);
    const gi = f32x4.add(v128.load(g + o), f32x4.mul(wd4, pi));
    const vi = f32x4.add(f32x4.mul(mu4, v128.load(v + o)), gi);
    v128.store(v + o, vi);
    const d = nesterov != 0 ? f32x4.add(gi, f32x4.mul(mu4, vi)) : vi;
    v128.store(p + o, f32x4.sub(pi, f32x4.mul(lr4, d)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const gi = load<f32>(g + o) + weightDecay * load<f32>(p + o);
    const vi = momentum * load<f32>(v + o) + gi;
    store<f32>(v + o, vi);
    const d = nesterov != 0 ? gi + momentum * vi : vi;
    store<f32>(p + o, load<f32>(p + o) - lr * d);
  }
}

// Adam (decoupled weight decay when adamw != 0, else L2 folded into the gradient), in
// PyTorch's form: p −= lr/bc1 · m / (√v/√bc2 + eps). bc1 = 1 − β1^t and bc2 = 1 − β2^t
// are computed by the caller. The vector loop and the scalar tail do identical arithmetic.
export function adamStep(
  n: i32, p: usize, g: usize, m: usize, v: usize,
  lr: f32, beta1: f32, beta2: f32, eps: f32, bc1: f32, bc2: f32, weightDecay: f32, adamw: i32,
): void {
  const sbc2 = Mathf.sqrt(bc2);
  const step = lr / bc1;
  const decay: f32 = adamw != 0 ? lr * weightDecay : 0;
  const l2: f32 = adamw != 0 ? 0 : weightDecay;
  const b1 = f32x4.splat(beta1), c1 = f32x4.splat(1 - beta1);
  const b2 = f32x4.splat(beta2), c2 = f32x4.splat(1 - beta2);
  const s2 = f32x4.splat(sbc2), e = f32x4.splat(eps), st = f32x4.splat(step);
  const dc = f32x4.splat(decay), l24 = f32x4.splat(l2);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i * 4;
    let pi = v128.load(p + o);
    const gi = f32x4.add(v128.load(g + o), f32x4.mul(l24, pi));
    pi = f32x4.sub(pi, f32x4.mul(dc, pi));
    const mi = f32x4.add(f32x4.mul(b1, v128.load(m + o)), f32x4.mul(c1, gi));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(v + o)), f32x4.mul(f32x4.mul(c2, gi), gi));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const den = f32x4.add(f32x4.div(f32x4.sqrt(vi), s2), e);
    v128.store(p + o, f32x4.sub(pi, f32x4.div(f32x4.mul(st, mi), den)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    let pi = load<f32>(p + o);
    const gi = load<f32>(g + o) + l2 * pi;
    pi -= decay * pi;
    const mi = beta1 * load<f32>(m + o) + (1 - beta1) * gi;
    const vi = beta2 * load<f32>(v + o) + ((1 - beta2) * gi) * gi;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    store<f32>(p + o, pi - (step * mi) / (Mathf.sqrt(vi) / sbc2 + eps));
  }
}
