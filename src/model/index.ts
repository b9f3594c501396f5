export * from "./trace-record.js";
export * from "./billable-event.js";
export * from "./outcome.js";
export * from "./errors.js";
export * from "./totals.js";
export * from "./idempotency.js";
export * from "./exclusions.js";
export * from "./timestamp.js";
