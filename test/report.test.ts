// Reports: CSV quoting, SVG plots rendered in Node, PNG grids, and saliency maps.
import test from "ava";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { toCsv, writeCsv } from "../src/report/csv.js";
import { lineChart, renderSvg, writeSvg } from "../src/report/plot.js";
import { gridPng } from "../src/report/png.js";
import { saliency } from "../src/attack/saliency.js";
import { loadData } from "../src/data/index.js";
import { architecture } from "../src/nn/architectures.js";
import { Model } from "../src/nn/model.js";

test("CSV quotes commas, quotes and newlines and leaves plain cells alone", (t) => {
  t.is(toCsv([{ a: 1, b: "x,y", c: 'say "hi"', d: null }]), 'a,b,c,d\n1,"x,y","say ""hi""",\n');
  const dir = mkdtempSync(join(tmpdir(), "bulwark-report-"));
  writeCsv(join(dir, "r.csv"), [{ eps: 0.1, acc: 0.5 }]);
  t.is(readFileSync(join(dir, "r.csv"), "utf8"), "eps,acc\n0.1,0.5\n");
  t.deepEqual(readdirSync(dir), ["r.csv"]);
});

test("a line chart renders to SVG without a browser", async (t) => {
  const spec = lineChart({ title: "robust accuracy vs ε", x: "eps", y: "robustAccuracy", rows: [{ eps: 0, robustAccuracy: 0.99 }, { eps: 0.3, robustAccuracy: 0.1 }] });
  const svg = await renderSvg(spec);
  t.true(svg.startsWith("<svg"));
  t.regex(svg, /robust accuracy vs ε/);
  const dir = mkdtempSync(join(tmpdir(), "bulwark-report-"));
  await writeSvg(join(dir, "c.svg"), spec);
  t.true(readFileSync(join(dir, "c.svg"), "utf8").includes("</svg>"));
});

test("PNG grids decode to the expected size and grey levels", (t) => {
  const tile = { data: [0, 1, 0.5, 0.25], lo: 0, hi: 1 };
  const png = PNG.sync.read(gridPng([[tile, tile]], 2, 2, 1));
  t.is(png.width, 2 * 3 + 1);
  t.is(png.height, 1 * 3 + 1);
  // first tile's pixel (0,0) is black, (0,1) white
  const px = (x: number, y: number) => png.data[4 * (y * png.width + x)];
  t.is(px(1, 1), 0);
  t.is(px(2, 1), 255);
});

test("saliency gives one input gradient per image, equal to a finite difference of the loss", (t) => {
  const data = loadData("mnist", { limit: 1, testLimit: 4 });
  const model = new Model(architecture("mlp")).init(4);
  const s = saliency(model, data.test, [0, 1, 2]);
  t.is(s.gradients.length, 3 * 784);
  t.true(s.gradients.some((g) => g !== 0));
  // d loss / d x at one pixel of image 1, by central difference on a one-image plan
  const plan = model.plan(3);
  const i = 1 * 784 + 400;
  const loss = (delta: number) => {
    plan.input.set(s.inputs);
    plan.input[i] += delta;
    plan.labels.set(s.labels);
    model.forward(plan, 3);
    return model.lossAndGrad(plan, 3, 1) * 3;
  };
  const fd = (loss(1e-2) - loss(-1e-2)) / 2e-2;
  t.true(Math.abs(fd - s.gradients[i]) <= 2e-3 + 0.05 * Math.abs(fd), `fd ${fd} vs ${s.gradients[i]}`);
});
