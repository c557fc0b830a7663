export * from "./activations.js";
export * from "./split.js";
export * from "./spectral.js";
export * from "./activation-clustering.js";
export * from "./rpca-filter.js";
export * from "./sanitize.js";
