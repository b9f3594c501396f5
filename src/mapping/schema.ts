/**
 * @module The mapping language. This zod schema is its single source of truth: loading,
 * the JSON Schema for editors and the places where CEL expressions live are all derived from it.
 */
import * as z from "zod";
import { MAPPING_VERSION_PROPERTY } from "../model/index.js";

/** What a CEL expression is for; decides which variables it sees and what it must produce. */
export type CelKind = "condition" | "customer" | "subscription" | "quantity" | "property" | "split";

/**
 * Tags the schema nodes whose value is a CEL expression. The loader walks the schema with this
 * registry to find and compile every expression, so there is no second list of "where CEL goes".
 */
export const celExpressions = z.registry<{ kind: CelKind }>();

const celMessage = "expected a CEL expression";

/**
 * YAML turns `1` or `true` into numbers and booleans; they are valid CEL too, so accept them
 * as their text rather than make authors quote `quantity: "1"`.
 */
function cel(kind: CelKind, description: string, examples?: string[]) {
  const s = z
    .union([z.string(), z.number(), z.boolean()], { error: celMessage })
    .transform((v) => String(v))
    .meta({ description, ...(examples ? { examples } : {}) });
  celExpressions.add(s, { kind });
  return s;
}

// Names end up in skip reasons (`<mapping>/<rule>`), idempotency keys and destination codes:
// keep them to characters every destination and log line accepts.
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const name = (what: string) =>
  z.string({ error: `${what} must be text` }).regex(NAME, `${what} must be 1–64 letters, digits, '_', '.' or '-', starting with a letter or digit`);

// Property names become JSON keys queried by path on the destination (OpenMeter `$.model`),
// so they stay plain identifiers.
const propertyName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "a property name must be letters, digits or '_', not starting with a digit");

const text = (description: string) => z.string({ error: "expected text" }).trim().min(1, "must not be empty").meta({ description });

const properties = (description: string) =>
  z
    .record(
      propertyName,
      cel("property", "Property value. A null result, or a field the record does not have, leaves the property out.", [
        "record.feature",
        "'input'",
      ]),
      { error: "expected a map of property name: CEL expression" },
    )
    .default({})
    .meta({ description });

// Params are read in CEL as `params.<name>`, so their names are CEL field names.
const paramName = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,63}$/, "a param name must be lower-case letters, digits or '_', not starting with a digit");

const paramValue = z.union([z.string(), z.number(), z.boolean()], { error: "expected text, a number or true/false" });

/** Reserved param: tracebill itself reads it (see `evaluate.ts`). */
export const ESTIMATE_PARAM = "estimate_usage";

/** Properties tracebill sets on events itself; a mapping cannot define them. */
export const VERSION_PROPERTY = MAPPING_VERSION_PROPERTY;
export const ESTIMATED_PROPERTY = "estimated";

export const ParamSchema = z
  .strictObject({
    description: text("What the switch decides and what each value means, for whoever changes it.").optional(),
    value: paramValue.meta({
      description:
        "The value in force. Expressions read it as `params.<name>`: text as string, true/false as bool, a number written with a decimal point (1.0, 1.2) as double, any other number as int.",
      examples: ["input", 1.2, false],
    }),
    one_of: z
      .array(paramValue, { error: "expected a list of the allowed values" })
      .min(1, "list at least one allowed value")
      .optional()
      .meta({
        description:
          "The values allowed. Another value is an error, and an expression comparing the param with a value not listed (a typo) is warned about.",
        examples: [["input", "separate", "none"]],
      }),
  })
  .superRefine((p, ctx) => {
    if (p.one_of && !p.one_of.includes(p.value)) {
      ctx.addIssue({ code: "custom", path: ["value"], message: `${JSON.stringify(p.value)} is not one of ${p.one_of.map((v) => JSON.stringify(v)).join(", ")}` });
    }
  })
  .meta({ description: "A named, documented switch of the policy." });

export const SplitSchema = z
  .strictObject({
    description: text("When and how a call is shared, in plain words.").optional(),
    shares: cel(
      "split",
      "CEL list of `{'customer': id, 'weight': number}` for a call shared between customers (a batched request). Absent or an empty list: the call is not shared and `customer` decides. Otherwise every quantity is split pro-rata by weight, in whole units, with largest-remainder rounding so the shares add up exactly to the call's total (ties go to the customer first in sorted order); each share is its own event, numbered by its position among the customers sorted by id; a share of 0 emits nothing; a customer listed twice gets the sum of its weights. Sees `record` and `params`, not `customer`; so do the quantities of a mapping with `split`. Unlike elsewhere, reading a field the record does not have skips the record (a malformed share list must never bill the whole call to one customer): read an optional list with `?.` and `orValue([])`.",
      ["record.?structured.?batch_shares.orValue([]).map(s, {'customer': s.tenant, 'weight': s.tokens})"],
    ),
  })
  .meta({ description: "Splits calls shared between customers pro-rata." });

const destinationProperties = z
  .record(propertyName, propertyName, { error: "expected a map of our property name: the destination's name" })
  .default({})
  .meta({
    description:
      "Renamed properties: our name (a property of this metric, or its value_property) → the name the destination uses. Unlisted ones keep our name.",
    examples: [{ model: "model_name", value: "tokens" }],
  });

export const LagoNamesSchema = z
  .strictObject({
    code: name("a Lago billable metric code").optional().meta({ description: "Lago billable metric code. Default: the metric name." }),
    properties: destinationProperties,
  })
  .meta({ description: "What Lago calls this metric and its properties, when not our names." });

export const OpenMeterNamesSchema = z
  .strictObject({
    event_type: name("an OpenMeter event type").optional().meta({ description: "CloudEvents `type` (the meter's eventType). Default: the metric name." }),
    properties: destinationProperties,
  })
  .meta({ description: "What OpenMeter calls this metric (event type) and its data fields, when not our names." });

export const RuleSchema = z
  .strictObject({
    name: name("a rule name").meta({ description: "Short id of the rule; skip reasons read `<mapping>/<rule>: <description>`." }),
    description: text("The rule in plain words, for finance. Used as the skip reason.").optional(),
    skip_when: cel(
      "condition",
      "CEL condition on `record`. When true the record is not billed by this mapping. Rules run in order and the first match decides.",
      ["!record.isModelCall", "record.status != 'success'", "record.cacheHit"],
    ),
  })
  .meta({ description: "A named, documented reason not to bill a record." });

export const EventSchema = z
  .strictObject({
    key: name("an event key").meta({
      description:
        "Tells this metric's events for one record apart (e.g. input / output). Part of the idempotency key: renaming it makes already-sent events look new.",
    }),
    description: text("What this quantity counts.").optional(),
    quantity: cel(
      "quantity",
      "CEL number: the billed quantity. 0 emits no event; a negative or non-numeric result skips the record with a reason.",
      ["record.usage.input - record.usage.cacheRead", "record.usage.output", "1"],
    ),
    properties: properties("Extra properties of this event; they override the metric's properties of the same name."),
  })
  .meta({ description: "One billable event per record." });

export const MetricSchema = z
  .strictObject({
    metric: name("a metric code").meta({
      description: "Our name for the metric; also its Lago billable metric code and OpenMeter event type unless `lago` / `openmeter` name them otherwise.",
    }),
    description: text("What the metric measures.").optional(),
    value_property: propertyName.default("value").meta({ description: "Name of the quantity property on the wire." }),
    lago: LagoNamesSchema.optional(),
    openmeter: OpenMeterNamesSchema.optional(),
    properties: properties("Properties every event of this metric carries (dimensions such as model or feature)."),
    events: z
      .array(EventSchema, { error: "expected a list of events" })
      .min(1, "a metric needs at least one event")
      .meta({ description: "The events this metric emits per record, one per entry." }),
  })
  .meta({ description: "A billable metric and the events that feed it." });

export const MappingSchema = z
  .strictObject({
    name: name("a mapping name").meta({ description: "Unique within a mapping set; part of every idempotency key." }),
    description: text("What this mapping bills, in plain words.").optional(),
    enabled: z.boolean({ error: "expected true or false" }).default(true).meta({
      description:
        "false: the file is checked like any other (names, keys and metrics must fit the set) but bills nothing and its metrics are not expected at the destinations; set true to add it to the policy.",
    }),
    params: z
      .record(paramName, ParamSchema, { error: "expected a map of param name: {value, description, one_of}" })
      .default({})
      .meta({
        examples: [{ cache_writes: { value: "input", one_of: ["input", "separate", "none"], description: "How prompt-cache writes are billed." } }],
        description: `Named switches of the policy, read in expressions as \`params.<name>\`. \`${ESTIMATE_PARAM}\` (true/false) is also read by tracebill: when true, a model call that reports no token usage but carries its text gets usage estimated from that text (gpt-tokenizer, o200k_base) — \`record.usage\` holds the estimate, \`record.usageEstimated\` is true — and its events carry \`estimated: true\`.`,
      }),
    customer: z
      .union(
        [
          cel("customer", "CEL giving the customer id."),
          z.array(cel("customer", "CEL giving the customer id."), { error: "expected a list" }).min(1, "list at least one customer expression"),
        ],
        { error: "expected a CEL expression or a list of them" },
      )
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .meta({
        description:
          "Who pays: CEL expressions tried in order; the first that gives a non-empty value wins, as text (10987 → \"10987\"). None → the record is skipped, never billed to a guess.",
        examples: [["record.attributes.tenant_id", "record.attributes.customer_id"]],
      }),
    subscription: cel(
      "subscription",
      "Optional CEL giving the Lago external_subscription_id (sees `record`, `params` and `customer`). Absent → the sink resolves it.",
      ["'sub_' + customer"],
    ).optional(),
    split: SplitSchema.optional(),
    rules: z
      .array(RuleSchema, { error: "expected a list of rules" })
      .default([])
      .meta({ description: "The billing policy: reasons not to bill, checked in order before anything is emitted." }),
    metrics: z
      .array(MetricSchema, { error: "expected a list of metrics" })
      .min(1, "a mapping needs at least one metric")
      .meta({ description: "What to bill for a record that passed every rule." }),
  })
  .meta({
    title: "tracebill mapping",
    description: "Turns normalized trace records into billable events. Expressions are CEL over `record` and `params`.",
  });

/** A mapping as written in YAML. */
export type MappingInput = z.input<typeof MappingSchema>;
/** A mapping after validation and defaults: expressions are CEL source text. */
export type MappingDef = z.output<typeof MappingSchema>;
export type RuleDef = MappingDef["rules"][number];
export type MetricDef = MappingDef["metrics"][number];
export type EventDef = MetricDef["events"][number];
export type ParamDef = MappingDef["params"][string];
