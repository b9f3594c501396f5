/** @module Mapping files: load and validate them, then turn TraceRecords into billable events. */
export { loadMappingSet, validateMappingPath, compileMappingTexts, isMappingFileName } from "./load.js";
export type { MappingText, CompileResult } from "./load.js";
export { formatProblem, MappingLoadError } from "./problems.js";
export type { MappingProblem } from "./problems.js";
export { evaluateRecord } from "./evaluate.js";
export type { Evaluation } from "./evaluate.js";
export { metricsOf } from "./metrics.js";
export type { EmittedMetric } from "./metrics.js";
export type { MappingSet, CompiledMapping } from "./compile.js";
export { MappingSchema } from "./schema.js";
export type { MappingInput, MappingDef } from "./schema.js";
export { mappingJsonSchema } from "./json-schema.js";
