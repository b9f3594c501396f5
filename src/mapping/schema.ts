/**
 * @module The mapping language. This zod schema is its single source of truth: loading,
 * the JSON Schema for editors and the places where CEL expressions live are all derived from it.
 */
import * as z from "zod";

/** What a CEL expression is for; decides which variables it sees and what it must produce. */
export type CelKind = "condition" | "customer" | "subscription" | "quantity" | "property";

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
    metric: name("a metric code").meta({ description: "Lago billable metric code / OpenMeter event type." }),
    description: text("What the metric measures.").optional(),
    value_property: propertyName.default("value").meta({ description: "Name of the quantity property on the wire." }),
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
      "Optional CEL giving the Lago external_subscription_id (sees `record` and `customer`). Absent → the sink resolves it.",
      ["'sub_' + customer"],
    ).optional(),
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
    description: "Turns normalized trace records into billable events. Expressions are CEL over `record`.",
  });

/** A mapping as written in YAML. */
export type MappingInput = z.input<typeof MappingSchema>;
/** A mapping after validation and defaults: expressions are CEL source text. */
export type MappingDef = z.output<typeof MappingSchema>;
export type RuleDef = MappingDef["rules"][number];
export type MetricDef = MappingDef["metrics"][number];
export type EventDef = MetricDef["events"][number];
