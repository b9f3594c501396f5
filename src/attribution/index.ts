/**
 * @module Attribution models: direct (the default: usage is billed to the tenant its call names)
 * and allocation of unattributed or shared usage to the tenants active in the same window,
 * in proportion to their activity (`activity`) or their per-model weighted activity (`weighted`).
 */
export { loadAttributionConfig, parseAttributionConfig, defaultAttributionConfig, AttributionConfigError, AttributionSchema, ATTRIBUTION_MODELS, ALLOCATION_MODELS, WINDOW_SIZES } from "./config.js";
export type { AttributionConfig, AttributionModel, AllocationModel, WindowSize, ActivityMeasure, ConfigResult } from "./config.js";
export { allocate, largestRemainder, windowOf, windowStart } from "./allocate.js";
export type { ActivityEntry, UnattributedEntry, Unallocated, AllocationResult, AllocateOptions } from "./allocate.js";
export { AttributionCollector, withAllocations, isWholeWindows, allocationModelOf, unattributedUsage, withFallbackCustomer, notCountedText, UNATTRIBUTED_CUSTOMER } from "./collect.js";
export type { AttributionItem, AllocationItem, AllocationStreamOptions, Collected, CollectorOptions, DirectTotal, NotCounted } from "./collect.js";
export { backtest } from "./backtest.js";
export type { BacktestReport, BacktestRow, BacktestOptions, UnattributedSummary } from "./backtest.js";
