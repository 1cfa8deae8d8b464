export * from "./render.js";
export * from "./nft.js";
export * from "./readback.js";
export * from "./enforcer.js";
export * from "./verify.js";
export * from "./state-store.js";
export * from "./link.js";
export * from "./agent.js";
