// `npm run test:slow`: the long runs (full-MNIST accuracy targets), kept out of `npm test`.
export default {
  extensions: { ts: "module" },
  nodeArguments: ["--import=tsx"],
  workerThreads: false,
  files: ["test/slow/**/*.test.ts"],
  timeout: "60m",
};
