export * from "./config-fields.js";
export * from "./logger.js";
export * from "./nats-connection.js";
export * from "./observe.js";
export * from "./process-main.js";
export * from "./retry.js";
export * from "./supervisor.js";
export * from "./control-plane.js";
