/**
 * @module The CEL world a mapping sees: the typed `record` (and `customer`), nothing else —
 * no environment, files or host functions. Also the conversions at its boundary: this CEL
 * library represents ints as BigInt, and absent fields must be *absent*, not null.
 */
import { Environment, Optional } from "@marcbachmann/cel-js";
import type { TraceRecord, Usage } from "../model/index.js";
import type { CelKind } from "./schema.js";

// Token counts are CEL ints so `record.usage.output * 2` stays integer arithmetic;
// `double(record.usage.input) * 1.5` is the explicit way to scale them.
const USAGE_FIELDS = {
  input: "int",
  output: "int",
  cacheRead: "int",
  cacheWrite: "int",
  reasoning: "int",
} as const satisfies Record<keyof Usage, string>;

/** `satisfies` makes adding a TraceRecord field without exposing it here a compile error. */
const RECORD_FIELDS = {
  platform: "string",
  recordId: "string",
  traceId: "string",
  parentId: "string",
  isModelCall: "bool",
  name: "string",
  status: "string",
  error: "string",
  startTime: "string",
  endTime: "string",
  modelRequested: "string",
  modelExecuted: "string",
  provider: "string",
  usage: "Usage",
  usageEstimated: "bool",
  cacheHit: "bool",
  cacheHitSignal: "string",
  replaySignal: "string",
  costTotal: "double",
  responseId: "string",
  attributes: "map<string, dyn>",
  tags: "list<string>",
  feature: "string",
  userId: "string",
  sessionId: "string",
  order: "string",
} as const satisfies Record<keyof TraceRecord, string>;

export const RECORD_FIELD_NAMES: readonly string[] = [...Object.keys(RECORD_FIELDS), ...Object.keys(USAGE_FIELDS)];

/** A record that cannot be shown to CEL as declared (e.g. a fractional token count). */
export class RecordViewError extends Error {
  override name = "RecordViewError";
}

class CelUsage {
  readonly input: bigint;
  readonly output: bigint;
  readonly cacheRead: bigint;
  readonly cacheWrite: bigint;
  readonly reasoning: bigint;
  constructor(u: Usage) {
    this.input = toInt(u.input, "input");
    this.output = toInt(u.output, "output");
    this.cacheRead = toInt(u.cacheRead, "cacheRead");
    this.cacheWrite = toInt(u.cacheWrite, "cacheWrite");
    this.reasoning = toInt(u.reasoning, "reasoning");
  }
}

function toInt(n: number, field: string): bigint {
  if (!Number.isSafeInteger(n)) throw new RecordViewError(`usage.${field} is ${n}, not a whole number of tokens`);
  return BigInt(n);
}

const RECORD_KEYS = Object.keys(RECORD_FIELDS) as (keyof TraceRecord)[];

/**
 * The record as CEL sees it. A null field is left undefined so `has(record.x)` is false
 * (CEL presence semantics) and reading it is a "no such key" that we treat as absent.
 */
class CelRecord {
  constructor(r: TraceRecord) {
    const self = this as unknown as Record<string, unknown>;
    for (const key of RECORD_KEYS) self[key] = r[key] ?? undefined;
    self.usage = r.usage ? new CelUsage(r.usage) : undefined;
    self.attributes = withoutNulls(r.attributes);
  }
}

function withoutNulls(attrs: TraceRecord["attributes"]): Record<string, unknown> {
  for (const k in attrs) {
    if (attrs[k] === null) return Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== null));
  }
  return attrs;
}

/** Built once per record and shared by every expression of every mapping. */
export function celRecord(record: TraceRecord): object {
  return new CelRecord(record);
}

const recordEnv = new Environment({ enableOptionalTypes: true, limits: { maxAstNodes: 2000, maxDepth: 50 } })
  .registerType("Usage", { ctor: CelUsage, fields: USAGE_FIELDS })
  .registerType("TraceRecord", { ctor: CelRecord, fields: RECORD_FIELDS })
  .registerVariable("record", "TraceRecord", { description: "The normalized trace record." });

const eventEnv = recordEnv.clone().registerVariable("customer", "string", { description: "The resolved customer id." });

interface KindSpec {
  env: Environment;
  /** CEL types the expression may produce (checked at load time). */
  types: ReadonlySet<string>;
  /** Plain words for messages: "must give …". */
  wants: string;
  /** Variables in scope, for messages. */
  scope: string;
}

const scalars = ["string", "int", "uint", "double", "dyn"];
const withOptional = (types: string[]) => new Set([...types, ...types.map((t) => `optional<${t}>`)]);

export const KINDS: Record<CelKind, KindSpec> = {
  condition: { env: recordEnv, types: new Set(["bool", "dyn"]), wants: "true or false", scope: "record" },
  customer: { env: recordEnv, types: withOptional(scalars), wants: "a text or number id", scope: "record" },
  subscription: { env: eventEnv, types: withOptional(["string", "dyn"]), wants: "text", scope: "record, customer" },
  quantity: { env: eventEnv, types: new Set(["int", "uint", "double", "dyn"]), wants: "a number", scope: "record, customer" },
  property: {
    env: eventEnv,
    types: withOptional([...scalars, "bool", "null"]),
    wants: "text, a number or true/false",
    scope: "record, customer",
  },
};

/** Marks a value the record does not have (null field, missing attribute, empty optional). */
export const ABSENT: unique symbol = Symbol("absent");
export type Absent = typeof ABSENT;

/** A CEL result the JS side cannot use as-is. */
export class CelValueError extends Error {
  override name = "CelValueError";
}

/** CEL result → plain JS scalar: BigInt and uint become numbers, optionals unwrap, null is ABSENT. */
export function fromCel(v: unknown): string | number | boolean | Absent {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      if (!Number.isFinite(v)) throw new CelValueError(`gave ${v}`);
      return v;
    case "bigint":
      return bigintToNumber(v);
    case "undefined":
      return ABSENT;
  }
  if (v === null) return ABSENT;
  if (v instanceof Optional) return v.hasValue() ? fromCel(v.value()) : ABSENT;
  // uint values are wrapper objects whose valueOf is a BigInt.
  const prim = (v as { valueOf(): unknown }).valueOf();
  if (typeof prim === "bigint") return bigintToNumber(prim);
  throw new CelValueError(`gave ${Array.isArray(v) ? "a list" : v instanceof Map ? "a map" : "a structured value"}, not a single value`);
}

function bigintToNumber(v: bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new CelValueError(`gave ${v}, too large to bill exactly`);
  return n;
}
