/** @module Mapping files: load and validate them, then turn TraceRecords into billable events. */
export { loadMappingSet, loadMappingSetWithWarnings, validateMappingPath, checkMappingPath, compileMappingTexts, isMappingFileName } from "./load.js";
export type { MappingText, CompileResult } from "./load.js";
export { formatProblem, MappingLoadError, PROBLEM_KINDS, isError } from "./problems.js";
export type { MappingProblem, ProblemKind, Severity } from "./problems.js";
export { formatCaret, formatCompact, renderProblems, summarize } from "./render.js";
export type { ProblemFormat, ProblemSummary } from "./render.js";
export { evaluateRecord, payerOf } from "./evaluate.js";
export type { Evaluation } from "./evaluate.js";
export { apportion } from "./split.js";
export { metricsOf } from "./metrics.js";
export type { EmittedMetric } from "./metrics.js";
export { meterDefinitions, meterSlug } from "./meters.js";
export type { MeterDefinitions, LagoDefinition, OpenMeterMeter } from "./meters.js";
export type { MappingSet, CompiledMapping } from "./compile.js";
export { MappingSchema } from "./schema.js";
export type { MappingInput, MappingDef } from "./schema.js";
export { mappingJsonSchema } from "./json-schema.js";
