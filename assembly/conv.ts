// Convolution by im2col + GEMM, NCHW activations.
//
// im2colRows lays the patches out one output pixel per row: col[(b·P + p), (c·KH + i)·KW + j],
// P = OH·OW, so a whole batch is a single GEMM with the [Cout, C·KH·KW] weight matrix:
//   forward        Yrows[B·P, Cout] = col · Wᵀ
//   weight grad    dW[Cout, CKK]    = dYrowsᵀ · col
//   input grad     dcol[B·P, CKK]   = dYrows · W, then col2imRows scatters it back.
// transposeBatch moves between Yrows ([B, P, Cout]) and NCHW ([B, Cout, P]).

export function im2colRows(
  x: usize, col: usize, batch: i32, channels: i32, height: i32, width: i32,
  kh: i32, kw: i32, stride: i32, pad: i32, oh: i32, ow: i32,
): void {
  let dst = col;
  for (let b = 0; b < batch; b++) {
    const xb = x + <usize>b * <usize>(channels * height * width) * 4;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const iy0 = oy * stride - pad;
        const ix0 = ox * stride - pad;
        // Interior patches copy whole kernel rows; only border patches test each pixel.
        const inside = ix0 >= 0 && ix0 + kw <= width;
        for (let c = 0; c < channels; c++) {
          const xc = xb + <usize>(c * height * width) * 4;
          for (let i = 0; i < kh; i++) {
            const iy = iy0 + i;
            if (iy < 0 || iy >= height) {
              memory.fill(dst, 0, <usize>kw * 4);
              dst += <usize>kw * 4;
              continue;
            }
            const src = xc + <usize>(iy * width + ix0) * 4;
            if (inside && kw == 4) {
              v128.store(dst, v128.load(src));
            } else if (inside) {
              for (let j = 0; j < kw; j++) store<f32>(dst + <usize>j * 4, load<f32>(src + <usize>j * 4));
            } else {
              for (let j = 0; j < kw; j++) {
                const ix = ix0 + j;
                store<f32>(dst + <usize>j * 4, ix >= 0 && ix < width ? load<f32>(src + <usize>j * 4) : 0);
              }
            }
            dst += <usize>kw * 4;
          }
        }
      }
    }
  }
}

// dx (+)= scatter of dcol (the adjoint of im2colRows). accumulate = 0 zeroes dx first.
export function col2imRows(
  dcol: usize, dx: usize, batch: i32, channels: i32, height: i32, width: i32,
  kh: i32, kw: i32, stride: i32, pad: i32, oh: i32, ow: i32, accumulate: i32,
): void {
  if (accumulate == 0) memory.fill(dx, 0, <usize>batch * <usize>(channels * height * width) * 4);
  let src = dcol;
  for (let b = 0; b < batch; b++) {
    const xb = dx + <usize>b * <usize>(channels * height * width) * 4;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const iy0 = oy * stride - pad;
        const ix0 = ox * stride - pad;
        const inside = ix0 >= 0 && ix0 + kw <= width;
        for (let c = 0; c < channels; c++) {
          const xc = xb + <usize>(c * height * width) * 4;
          for (let i = 0; i < kh; i++) {
            const iy = iy0 + i;
            if (iy < 0 || iy >= height) { src += <usize>kw * 4; continue; }
            const p = xc + <usize>(iy * width + ix0) * 4;
            if (inside && kw == 4) {
              v128.store(p, f32x4.add(v128.load(p), v128.load(src)));
            } else {
              for (let j = 0; j < kw; j++) {
                const ix = ix0 + j;
                if (ix >= 0 && ix < width) {
                  const q = p + <usize>j * 4;
                  store<f32>(q, load<f32>(q) + load<f32>(src + <usize>j * 4));
                }
              }
            }
            src += <usize>kw * 4;
          }
        }
      }
    }
  }
}

// For each of `batch` matrices: dst_b[c, r] = src_b[r, c] (src_b is rows × cols).
export function transposeBatch(src: usize, dst: usize, batch: i32, rows: i32, cols: i32): void {
  const size = <usize>(rows * cols) * 4;
  for (let b = 0; b < batch; b++) {
    const s = src + <usize>b * size;
    const d = dst + <usize>b * size;
    // 8×8 blocks keep both sides in cache lines.
    for (let r0 = 0; r0 < rows; r0 += 8) {
      const r1 = min(r0 + 8, rows);
      for (let c0 = 0; c0 < cols; c0 += 8) {
        const c1 = min(c0 + 8, cols);
        for (let r = r0; r < r1; r++) {
          for (let c = c0; c < c1; c++) {
            store<f32>(d + <usize>(c * rows + r) * 4, load<f32>(s + <usize>(r * cols + c) * 4));
          }
        }
      }
    }
  }
}

// Average pooling, NCHW, square window k, stride s, no padding.
export function avgPoolForward(x: usize, y: usize, planes: i32, height: i32, width: i32, k: i32, s: i32, oh: i32, ow: i32): void {
  const inv: f32 = 1 / <f32>(k * k);
  for (let p = 0; p < planes; p++) {
    const xp = x + <usize>(p * height * width) * 4;
    const yp = y + <usize>(p * oh * ow) * 4;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let acc: f32 = 0;
        for (let i = 0; i < k; i++) {
          const row = xp + <usize>((oy * s + i) * width + ox * s) * 4;
          for (let j = 0; j < k; j++) acc += load<f32>(row + <usize>j * 4);
        }
        store<f32>(yp + <usize>(oy * ow + ox) * 4, acc * inv);
      }
    }
  }
}

export function avgPoolBackward(dy: usize, dx: usize, planes: i32, height: i32, width: i32, k: i32, s: i32, oh: i32, ow: i32): void {
  memory.fill(dx, 0, <usize>planes * <usize>(height * width) * 4);
  const inv: f32 = 1 / <f32>(k * k);
  for (let p = 0; p < planes; p++) {
    const dxp = dx + <usize>(p * height * width) * 4;
    const dyp = dy + <usize>(p * oh * ow) * 4;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const g = load<f32>(dyp + <usize>(oy * ow + ox) * 4) * inv;
        for (let i = 0; i < k; i++) {
          const row = dxp + <usize>((oy * s + i) * width + ox * s) * 4;
          for (let j = 0; j < k; j++) {
            const q = row + <usize>j * 4;
            store<f32>(q, load<f32>(q) + g);
          }
        }
      }
    }
  }
}
