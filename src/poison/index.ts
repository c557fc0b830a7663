export * from "./linalg.js";
export * from "./synthetic.js";
export * from "./metrics.js";
export * from "./pcp.js";
export * from "./altproj.js";
export * from "./matrix-io.js";
