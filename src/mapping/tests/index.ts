/**
 * @module Mapping tests as data: `*.test.yaml` files beside the mappings give input records and
 * the events or skips the set must produce. `tracebill mappings test` and `npm test` run them.
 */
export { loadMappingTests, parseMappingTests, isMappingTestFileName } from "./load.js";
export type { MappingTestCase, MappingTestFile, MappingTestSuite, LoadTestsOptions, RawNormalizers } from "./load.js";
export { runCase, diffEvent, ABSENT_FIELD } from "./run.js";
export type { CaseResult, Failure, FieldDiff } from "./run.js";
export { renderCaseLine, renderFailures } from "./render.js";
export type { RenderOptions } from "./render.js";
export { MappingTestFileSchema, mappingTestJsonSchema } from "./schema.js";
export type { MappingTestFileInput, ExpectedEvent, Expectation, RecordPatch } from "./schema.js";
