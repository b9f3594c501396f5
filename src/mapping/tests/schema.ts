/**
 * @module The mapping test file format (`mappings/*.test.yaml`): input records and the events or
 * skips the mapping set must produce for them. Written by the people who edit mappings, so every
 * key is described here once and the JSON Schema editors use is generated from it.
 */
import * as z from "zod";
import type { TraceRecord, Usage } from "../../model/index.js";

const text = (description: string) => z.string({ error: "expected text" }).meta({ description });
const maybeText = (description: string) => z.string({ error: "expected text or null" }).nullable().meta({ description });

const tokens = (description: string) =>
  z.number({ error: "expected a number of tokens" }).nonnegative("token counts cannot be negative").meta({ description });

export const UsagePatchSchema = z
  .strictObject({
    input: tokens("Input tokens, INCLUDING cache reads and cache writes.").optional(),
    output: tokens("Output tokens, INCLUDING reasoning tokens.").optional(),
    cacheRead: tokens("Prompt-cache reads (part of input).").optional(),
    cacheWrite: tokens("Prompt-cache writes (part of input).").optional(),
    reasoning: tokens("Reasoning tokens (part of output).").optional(),
  } satisfies Record<keyof Usage, z.ZodType>)
  .meta({ description: "Token usage; counts you leave out are 0." });

const attributeValue = z.union([z.string(), z.number(), z.boolean(), z.null()], { error: "expected text, a number, true/false or null" });

/**
 * Every TraceRecord field, all optional. `satisfies` makes a new TraceRecord field a compile
 * error here until test files can state it.
 */
const recordShape = {
  platform: z.enum(["langsmith", "langfuse"], { error: "expected langsmith or langfuse" }).meta({ description: "Where the record came from." }),
  recordId: text("LangSmith run id / Langfuse observation id. Default: `case-<n>`."),
  traceId: text("Trace id. Default: the record id."),
  parentId: maybeText("Parent run / observation id."),
  isModelCall: z.boolean({ error: "expected true or false" }).meta({ description: "A real model invocation (LangSmith llm run, Langfuse GENERATION). Default: true." }),
  name: text("Run / observation name, e.g. ChatOpenAI."),
  status: z.enum(["success", "error", "pending"], { error: "expected success, error or pending" }).meta({ description: "Default: success." }),
  error: maybeText("Error text of a failed call."),
  startTime: maybeText("ISO-8601 UTC. Default: 2026-01-01T00:00:00.000Z."),
  endTime: maybeText("ISO-8601 UTC; the usage time of the events. Default: 2026-01-01T00:00:01.000Z."),
  modelRequested: maybeText("Model the application asked for (first attempt of a fallback chain)."),
  modelExecuted: maybeText("Model that actually served the call."),
  provider: maybeText("Model provider, e.g. openai."),
  usage: UsagePatchSchema.nullable().meta({ description: "Token usage as reported; null (the default) when the record carries none." }),
  usageEstimated: z.boolean({ error: "expected true or false" }).meta({ description: "Token counts were estimated, not reported." }),
  cacheHit: z.boolean({ error: "expected true or false" }).meta({ description: "Served from a response cache (the model did not run)." }),
  cacheHitSignal: maybeText("Which signal established cacheHit."),
  replaySignal: maybeText("Why the call looks like a LangChain Python LLM-cache replay."),
  costTotal: z.number({ error: "expected a number or null" }).nullable().meta({ description: "Total cost the platform recorded." }),
  responseId: maybeText("Provider response id (chatcmpl-…, msg_…)."),
  attributes: z
    .record(z.string(), attributeValue, { error: "expected a map of attribute: value" })
    .meta({ description: "Tenant attributes (own metadata joined with the trace's), e.g. tenant_id. Merged over `defaults`; null removes one." }),
  tags: z.array(z.string(), { error: "expected a list of text" }).meta({ description: "Tags." }),
  feature: maybeText("Feature label."),
  userId: maybeText("End-user id."),
  sessionId: maybeText("Session / thread id."),
  order: maybeText("Ordering key among siblings."),
  text: z
    .strictObject({ input: z.string().nullable(), output: z.string().nullable() }, { error: "expected { input, output } texts" })
    .nullable()
    .meta({ description: "Prompt and completion text of a call that reports no usage (for the opt-in estimate)." }),
  structured: z
    .record(z.string(), z.json(), { error: "expected a map of metadata name: JSON value" })
    .nullable()
    .meta({ description: "The record's own list/map metadata, e.g. batch_shares: [{tenant, tokens}] for split calls." }),
} satisfies Record<keyof TraceRecord, z.ZodType>;

export const RecordPatchSchema = z.strictObject(recordShape).partial().meta({
  description:
    "A normalized trace record (as the mapping sees it, after the trace join), stating only what matters; the rest is a successful model call with no usage and no attributes.",
});

const propertyValue = z.union([z.string(), z.number(), z.boolean(), z.null()], { error: "expected text, a number, true/false, or null for 'absent'" });

export const ExpectedEventSchema = z
  .strictObject({
    customer: z
      .union([z.string(), z.number()], { error: "expected the customer id" })
      .transform(String)
      .meta({ description: "Customer id (always text on the event; 10987 and \"10987\" mean the same here)." }),
    metric: text("Metric code."),
    value: z.number({ error: "expected a number" }).meta({ description: "The billed quantity, exactly." }),
    properties: z
      .record(z.string(), propertyValue, { error: "expected a map of property: value" })
      .meta({ description: "Properties to check; others on the event are ignored. null means the event must NOT have it." }),
    timestamp: text("Usage time; compared as an instant (2026-11-20T10:00:00Z equals 2026-11-20T10:00:00.000Z)."),
    mapping: text("Name of the mapping that produced the event."),
    subscription: text("Lago external_subscription_id."),
    estimated: z.boolean({ error: "expected true or false" }).meta({ description: "Quantity is estimated (false: not marked estimated)." }),
    id: text("Idempotency key (tb_…)."),
  })
  .partial()
  .meta({ description: "An event the record must produce. Only the fields written here are compared." });

export const ExpectSchema = z
  .strictObject({
    events: z
      .array(ExpectedEventSchema, { error: "expected a list of events" })
      .meta({ description: "Every event the record produces, in any order (the count must match). [] means nothing is billed." }),
    skipped: z
      .union([z.string(), z.array(z.string(), { error: "expected a list of text" })], { error: "expected text or a list of text" })
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .meta({
        description:
          "Skip reasons, each matched as text inside the actual reason (case-insensitive), e.g. the rule name `success-only` or `no customer`. Every actual skip must match one. [] means nothing is skipped.",
      }),
  })
  .partial()
  .refine((e) => e.events !== undefined || e.skipped !== undefined, "expect needs `events:`, `skipped:` or both")
  .meta({ description: "What the mapping set must do with the record. A key left out is not checked." });

export const RawSchema = z
  .strictObject({
    langsmith: z.record(z.string(), z.unknown(), { error: "expected a LangSmith run (a JSON object)" }).meta({
      description: "A LangSmith run as the API or an export gives it; normalized by the real LangSmith normalizer.",
    }),
    langfuse: z.record(z.string(), z.unknown(), { error: "expected a Langfuse observation (a JSON object)" }).meta({
      description: "A Langfuse observation as the API or an export gives it; normalized by the real Langfuse normalizer.",
    }),
  })
  .partial()
  .refine((r) => (r.langsmith === undefined) !== (r.langfuse === undefined), "raw needs exactly one of `langsmith:` or `langfuse:`")
  .meta({ description: "A raw platform record (paste its JSON). `record:` beside it then overrides fields of the normalized record, e.g. the tenant its trace would give it." });

export const CaseSchema = z
  .strictObject({
    name: z.string({ error: "expected text" }).trim().min(1, "must not be empty").meta({ description: "What the case shows, in plain words; unique in the file." }),
    description: text("More words, if the name is not enough.").optional(),
    record: RecordPatchSchema.optional(),
    raw: RawSchema.optional(),
    expect: ExpectSchema,
  })
  .refine((c) => c.record !== undefined || c.raw !== undefined, "a case needs `record:` (or `raw:`)")
  .meta({ description: "One input record and what the mappings must do with it." });

export const MappingTestFileSchema = z
  .strictObject({
    mapping: z
      .union([z.string(), z.array(z.string()).min(1, "list at least one mapping")], { error: "expected a mapping name or a list of them" })
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional()
      .meta({ description: "The mapping(s) under test, by name. Left out: every mapping in this directory (the whole set)." }),
    defaults: RecordPatchSchema.optional().meta({ description: "Record fields every `record:` case starts from (not `raw:` cases)." }),
    cases: z.array(CaseSchema, { error: "expected a list of cases" }).min(1, "a test file needs at least one case"),
  })
  .meta({
    title: "tracebill mapping tests",
    description: "Input records and the billable events or skips the mapping set must produce for them. Run with `tracebill mappings test`.",
  });

export type MappingTestFileInput = z.input<typeof MappingTestFileSchema>;
export type MappingTestFileDef = z.output<typeof MappingTestFileSchema>;
export type RecordPatch = z.output<typeof RecordPatchSchema>;
export type ExpectedEvent = z.output<typeof ExpectedEventSchema>;
export type Expectation = z.output<typeof ExpectSchema>;

/** Draft-07 in input mode, like mapping.schema.json: what yaml-language-server understands and authors write. */
export function mappingTestJsonSchema(): string {
  return JSON.stringify(z.toJSONSchema(MappingTestFileSchema, { io: "input", target: "draft-07" }), null, 2) + "\n";
}
