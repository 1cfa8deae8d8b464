export * from "./compile.js";
export * from "./manifests.js";
export * from "./dir-source.js";
export * from "./publisher.js";
export * from "./status.js";
export * from "./bus.js";
export * from "./controller.js";
export * from "./lint.js";
