// Plots: Vega-Lite specs rendered to SVG in Node (no browser, no canvas: vega's 'none'
// renderer with view.toSVG()). Files are written atomically.
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { writeFileAtomic } from "../core/files.js";

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export async function writeSvg(path: string, spec: TopLevelSpec): Promise<void> {
  writeFileAtomic(path, await renderSvg(spec));
}

/** A line chart of y against x, one line per series. */
export function lineChart(opts: {
  title: string; x: string; y: string; rows: Record<string, unknown>[]; series?: string; yDomain?: [number, number];
}): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title,
    width: 420,
    height: 280,
    data: { values: opts.rows },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: opts.x, type: "quantitative" },
      y: { field: opts.y, type: "quantitative", ...(opts.yDomain ? { scale: { domain: opts.yDomain } } : {}) },
      ...(opts.series ? { color: { field: opts.series, type: "nominal" } } : {}),
    },
  } as TopLevelSpec;
}
