// Grayscale image grids as PNG (pngjs), written atomically: each tile is one h×w map with
// values scaled to 0..255 by the caller's range.
import { PNG } from "pngjs";
import { writeFileAtomic } from "../core/files.js";

export interface Tile {
  data: ArrayLike<number>;
  /** Values mapped to black and white. */
  lo: number;
  hi: number;
}

export function gridPng(tiles: Tile[][], h: number, w: number, gap = 2): Buffer {
  const rows = tiles.length;
  const cols = Math.max(...tiles.map((r) => r.length));
  const png = new PNG({ width: cols * (w + gap) + gap, height: rows * (h + gap) + gap });
  png.data.fill(255);
  tiles.forEach((row, r) => row.forEach((tile, c) => {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = tile.data[y * w + x];
        const g = Math.round(255 * Math.min(1, Math.max(0, (v - tile.lo) / (tile.hi - tile.lo || 1))));
        const i = 4 * ((r * (h + gap) + gap + y) * png.width + c * (w + gap) + gap + x);
        png.data[i] = png.data[i + 1] = png.data[i + 2] = g;
        png.data[i + 3] = 255;
      }
    }
  }));
  return PNG.sync.write(png);
}

export function writeGridPng(path: string, tiles: Tile[][], h: number, w: number): void {
  writeFileAtomic(path, gridPng(tiles, h, w));
}
