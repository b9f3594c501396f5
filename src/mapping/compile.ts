/**
 * @module Compiles each CEL expression once, at load time, into a function the hot path calls
 * per record (no re-parsing), and assembles a validated mapping into its executable form.
 */
import { ParseError, type ASTNode, type ParseResult } from "@marcbachmann/cel-js";
import { ABSENT, KINDS, RECORD_FIELD_NAMES, fromCel, type Absent, type KindSpec } from "./cel-env.js";
import type { DestinationNames } from "../model/index.js";
import { ESTIMATE_PARAM, type CelKind, type MappingDef, type MetricDef } from "./schema.js";
import type { Path } from "./schema-walk.js";
import { closest } from "./suggest.js";

export interface CelContext {
  record: object;
  /** The mapping's params (`CelEnvironments.params`). */
  params?: object;
  customer?: string;
}

export type CelValue = string | number | boolean | Absent;

export interface CompiledExpr {
  /** Where it sits in its mapping, for skip reasons: `rules[no-cache-hits].skip_when`. */
  readonly at: string;
  readonly source: string;
  /**
   * The value, or ABSENT when it reads a field the record does not have (null field, missing
   * attribute). Any other failure throws a CelRuntimeError.
   */
  evaluate(ctx: CelContext): CelValue;
  /** What the loader learned about it, for warnings and destination definitions. */
  readonly facts?: ExprFacts;
  /** The raw CEL result (a list for `split`); a missing field throws too (CelRuntimeError.missing). Present on compiled expressions. */
  readonly evaluateRaw?: (ctx: CelContext) => unknown;
}

export interface ExprFacts {
  /** Reads neither `record` nor `customer`: the same value for every record. */
  constant: boolean;
  /** Its value when constant and it evaluated to a single value. */
  value?: CelValue;
  /** Params it reads (`params.<name>`). */
  params: string[];
  /** `params.<name> == 'literal'` / `!=`: the literal and where it starts in the expression. */
  comparisons: { param: string; literal: string | number | boolean; offset: number }[];
}

export class CelRuntimeError extends Error {
  override name = "CelRuntimeError";
  /** It read a field the record does not have (CEL "no such key"). */
  constructor(message: string, readonly missing = false) {
    super(message);
  }
}

export type CompileOutcome =
  | { ok: true; expr: CompiledExpr }
  | { ok: false; message: string; offset?: number; kind: "cel-syntax" | "cel-type" | "cel-result" };

export function compileExpression(
  kind: CelKind,
  source: string,
  at: string,
  kinds: Record<CelKind, KindSpec> = KINDS,
  params?: object,
): CompileOutcome {
  if (source.trim() === "") return { ok: false, message: "the expression is empty", kind: "cel-syntax" };
  const spec = kinds[kind];
  let parsed: ParseResult;
  try {
    parsed = spec.env.parse(source);
  } catch (e) {
    if (e instanceof ParseError) return { ok: false, message: `CEL syntax error: ${e.summary}`, offset: e.range?.start, kind: "cel-syntax" };
    throw e;
  }
  const checked = parsed.check();
  if (!checked.valid) {
    const err = checked.error;
    const offset = err?.range?.start;
    const culprit = err?.range ? source.slice(err.range.start, err.range.end) : "";
    return { ok: false, message: `CEL error: ${err?.summary ?? "invalid expression"}${hint(err?.code, culprit, kind, spec, source, err?.range?.start)}`, offset, kind: "cel-type" };
  }
  const type = checked.type ?? "";
  if (!(typeof spec.types === "function" ? spec.types(type) : spec.types.has(type))) {
    return { ok: false, message: `this expression must give ${spec.wants}, but gives ${checked.type}`, kind: "cel-result" };
  }
  return { ok: true, expr: makeExpr(parsed, source, at, params) };
}

function hint(code: string | undefined, culprit: string, kind: CelKind, spec: KindSpec, source: string, start: number | undefined): string {
  if (code === "unknown_variable") {
    if (culprit === "customer") {
      return kind === "quantity" || kind === "split"
        ? " (a mapping with split computes quantities once per call, before the customers of its shares)"
        : " (the customer is not known yet in rules and customer expressions)";
    }
    return ` (expressions here see: ${spec.scope}; for literal text write '${culprit}' with quotes)`;
  }
  if (code === "no_such_key") {
    const field = culprit.replace(/^\.\??/, "");
    if (start !== undefined && source.slice(0, start).trimEnd().endsWith("params")) {
      const guess = closest(field, spec.paramNames);
      return guess ? ` (did you mean '${guess}'?)` : ` (declare it under params${spec.paramNames.length ? `; declared: ${spec.paramNames.join(", ")}` : ""})`;
    }
    const guess = closest(field, RECORD_FIELD_NAMES);
    return guess ? ` (did you mean '${guess}'?)` : "";
  }
  return "";
}

function makeExpr(parsed: ParseResult, source: string, at: string, params: object | undefined): CompiledExpr {
  const evaluateRaw = (ctx: CelContext): unknown => {
    try {
      return parsed(ctx);
    } catch (e) {
      const message = (e as { summary?: string }).summary ?? (e instanceof Error ? e.message : String(e));
      throw new CelRuntimeError(message, (e as { code?: unknown }).code === "no_such_key");
    }
  };
  const slow = (ctx: CelContext): CelValue => {
    let v: unknown;
    try {
      v = evaluateRaw(ctx);
    } catch (e) {
      // "No such key" is how CEL reports a field this record lacks: absence, not failure.
      if (e instanceof CelRuntimeError && e.missing) return ABSENT;
      throw e;
    }
    try {
      return fromCel(v);
    } catch (e) {
      throw new CelRuntimeError((e as Error).message);
    }
  };
  const facts = factsOf(parsed.ast, slow, params);
  // A constant (no `record`, no `customer`) is the same for every record: computed once at load.
  if (facts.constant && facts.value !== undefined && (params !== undefined || facts.params.length === 0)) {
    const value = facts.value;
    return { at, source, evaluate: () => value, evaluateRaw, facts };
  }
  const path = selectPath(parsed.ast);
  if (!path) {
    const fast = fastEvaluator(parsed.ast as AnyNode);
    if (!fast) return { at, source, evaluate: slow, evaluateRaw, facts };
    // The common shapes (`!record.isModelCall`, `record.status != 'success'`, `has(...)`, int
    // arithmetic, `?:`, `.?x.or(...)`) run as plain JS; anything unusual (a type mismatch, a
    // missing field, an overflow) goes to CEL itself, so the result is always CEL's.
    const evaluate = (ctx: CelContext): CelValue => {
      const v = fast(ctx);
      if (v === FALLBACK) return slow(ctx);
      if (v instanceof Opt) return v.value === undefined ? ABSENT : scalar(v.value, ctx, slow);
      return scalar(v, ctx, slow);
    };
    return { at, source, evaluate, evaluateRaw, facts };
  }
  // Plain field reads (`record.feature`, `record.attributes.tenant_id`) are the common case and
  // often absent; reading them directly avoids CEL building and throwing an error per record.
  const evaluate = (ctx: CelContext): CelValue => {
    let v: unknown = ctx;
    for (const key of path) {
      if (typeof v !== "object" || v === null) return slow(ctx);
      v = Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined;
      if (v === undefined) return ABSENT;
    }
    try {
      return fromCel(v);
    } catch (e) {
      throw new CelRuntimeError((e as Error).message);
    }
  };
  return { at, source, evaluate, evaluateRaw, facts };
}

/** A plain scalar result as CEL would give it; anything else is left to CEL. */
function scalar(v: unknown, ctx: CelContext, slow: (ctx: CelContext) => CelValue): CelValue {
  const t = typeof v;
  if (t !== "string" && t !== "boolean" && t !== "bigint" && t !== "number") return slow(ctx);
  try {
    return fromCel(v);
  } catch (e) {
    throw new CelRuntimeError((e as Error).message);
  }
}

/** "Ask CEL": the fast evaluator met something it does not decide itself. */
const FALLBACK: unique symbol = Symbol("fallback");
/** An optional (`x.?field`) in the fast evaluator: value undefined = none. */
class Opt {
  constructor(readonly value: unknown) {}
}
type Fast = (ctx: CelContext) => unknown;
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** Own, defined, non-null field of an object (CEL values have no prototype fields we read). */
function field(target: unknown, name: string): unknown {
  if (typeof target !== "object" || target === null || !Object.hasOwn(target, name)) return undefined;
  return (target as Record<string, unknown>)[name];
}

/**
 * A JS closure for the AST shapes shipped mappings use, or undefined when the expression has
 * another shape. Returns FALLBACK wherever CEL's own answer may differ from plain JS (absent
 * fields, nulls, mixed types, int64 overflow), so the caller asks CEL then.
 */
function fastEvaluator(node: AnyNode): Fast | undefined {
  const args = node.args;
  switch (node.op) {
    case "id":
      if (args === "record") return (ctx) => ctx.record;
      if (args === "params") return (ctx) => ctx.params ?? FALLBACK;
      if (args === "customer") return (ctx) => ctx.customer ?? FALLBACK;
      return undefined;
    case "value": {
      const v = args;
      if (typeof v !== "string" && typeof v !== "bigint" && typeof v !== "boolean") return undefined;
      return () => v;
    }
    case ".":
    case ".?": {
      const [targetNode, name] = args as [AnyNode, unknown];
      if (typeof name !== "string" || !isNode(targetNode)) return undefined;
      const target = fastEvaluator(targetNode);
      if (!target) return undefined;
      const optional = node.op === ".?";
      return (ctx) => {
        let t = target(ctx);
        if (t === FALLBACK) return FALLBACK;
        if (t instanceof Opt) {
          if (!optional || t.value === undefined) return FALLBACK;
          t = t.value;
        }
        if (typeof t !== "object" || t === null || t instanceof Map || Array.isArray(t)) return FALLBACK;
        const v = field(t, name);
        if (v === null) return FALLBACK;
        if (optional) return new Opt(v);
        return v === undefined ? FALLBACK : v;
      };
    }
    case "!_": {
      const inner = isNode(args) ? fastEvaluator(args) : undefined;
      if (!inner) return undefined;
      return (ctx) => {
        const v = inner(ctx);
        return typeof v === "boolean" ? !v : FALLBACK;
      };
    }
    case "==":
    case "!=": {
      const [a, b] = (args as unknown[]).map((n) => (isNode(n) ? fastEvaluator(n) : undefined));
      if (!a || !b) return undefined;
      const negate = node.op === "!=";
      return (ctx) => {
        const x = a(ctx);
        const y = b(ctx);
        const t = typeof x;
        if (t !== typeof y || (t !== "string" && t !== "boolean" && t !== "bigint")) return FALLBACK;
        return (x === y) !== negate;
      };
    }
    case "+":
    case "-": {
      const [a, b] = (args as unknown[]).map((n) => (isNode(n) ? fastEvaluator(n) : undefined));
      if (!a || !b) return undefined;
      const minus = node.op === "-";
      return (ctx) => {
        const x = a(ctx);
        const y = b(ctx);
        if (typeof x !== "bigint" || typeof y !== "bigint") return FALLBACK;
        const r = minus ? x - y : x + y;
        return r > INT64_MAX || r < INT64_MIN ? FALLBACK : r;
      };
    }
    case "?:": {
      const [c, yes, no] = (args as unknown[]).map((n) => (isNode(n) ? fastEvaluator(n) : undefined));
      if (!c || !yes || !no) return undefined;
      return (ctx) => {
        const v = c(ctx);
        if (typeof v !== "boolean") return FALLBACK;
        return v ? yes(ctx) : no(ctx);
      };
    }
    case "call": {
      const [fn, list] = args as [unknown, unknown];
      if (fn !== "has" || !Array.isArray(list) || list.length !== 1 || !isNode(list[0]) || list[0].op !== ".") return undefined;
      const [targetNode, name] = list[0].args as [AnyNode, unknown];
      const target = isNode(targetNode) ? fastEvaluator(targetNode) : undefined;
      if (!target || typeof name !== "string") return undefined;
      return (ctx) => {
        const t = target(ctx);
        if (typeof t !== "object" || t === null || t instanceof Opt || t instanceof Map || Array.isArray(t)) return FALLBACK;
        const v = field(t, name);
        return v === null ? FALLBACK : v !== undefined;
      };
    }
    case "rcall": {
      const [method, targetNode, list] = args as [unknown, unknown, unknown];
      if ((method !== "or" && method !== "orValue") || !isNode(targetNode) || !Array.isArray(list) || list.length !== 1 || !isNode(list[0])) return undefined;
      const target = fastEvaluator(targetNode);
      const other = fastEvaluator(list[0]);
      if (!target || !other) return undefined;
      return (ctx) => {
        const t = target(ctx);
        if (!(t instanceof Opt)) return FALLBACK;
        if (t.value !== undefined) return method === "or" ? t : t.value;
        const o = other(ctx);
        if (method === "or" && !(o instanceof Opt)) return FALLBACK;
        return o;
      };
    }
    default:
      return undefined;
  }
}

type AnyNode = { op: string; args: unknown; range?: { start: number } };
const isNode = (v: unknown): v is AnyNode => typeof v === "object" && v !== null && "op" in v && "args" in v;

function visit(node: AnyNode, f: (n: AnyNode) => void): void {
  f(node);
  const walk = (a: unknown): void => {
    if (Array.isArray(a)) a.forEach(walk);
    else if (isNode(a)) visit(a, f);
  };
  walk(node.args);
}

/** `params.<name>` (or `params.?<name>`) → name. */
function paramRead(n: AnyNode): string | undefined {
  if (n.op !== "." && n.op !== ".?") return undefined;
  const [target, field] = n.args as [AnyNode, string];
  return target.op === "id" && target.args === "params" ? field : undefined;
}

function factsOf(ast: ASTNode, evaluate: (ctx: CelContext) => CelValue, params: object | undefined): ExprFacts {
  let readsInput = false;
  const read = new Set<string>();
  const comparisons: ExprFacts["comparisons"] = [];
  visit(ast as AnyNode, (n) => {
    if (n.op === "id" && (n.args === "record" || n.args === "customer")) readsInput = true;
    const p = paramRead(n);
    if (p !== undefined) read.add(p);
    if (n.op === "==" || n.op === "!=") {
      const [a, b] = n.args as [AnyNode, AnyNode];
      for (const [side, other] of [[a, b], [b, a]] as const) {
        const param = paramRead(side);
        const lit = other.op === "value" ? other.args : undefined;
        if (param !== undefined && (typeof lit === "string" || typeof lit === "number" || typeof lit === "boolean" || typeof lit === "bigint")) {
          comparisons.push({ param, literal: typeof lit === "bigint" ? Number(lit) : lit, offset: other.range?.start ?? 0 });
        }
      }
    }
  });
  const facts: ExprFacts = { constant: !readsInput, params: [...read], comparisons };
  if (!readsInput) {
    try {
      // A constant expression has the same value for every record: compute it once, for warnings.
      facts.value = evaluate({ record: {}, params: params ?? {} });
    } catch {
      // A constant that fails (e.g. a list, or 1/0) fails per record too, where it is reported.
    }
  }
  return facts;
}

/** `record.attributes.tenant_id` → ["record", "attributes", "tenant_id"]; anything else → undefined. */
function selectPath(ast: ASTNode): string[] | undefined {
  const names: string[] = [];
  let node = ast;
  while (node.op === ".") {
    names.unshift(node.args[1]);
    node = node.args[0];
  }
  return node.op === "id" ? [node.args, ...names] : undefined;
}

// ---------------------------------------------------------------------------------------------

export interface CompiledProperty {
  name: string;
  value: CompiledExpr;
}

export interface CompiledRule {
  name: string;
  /** `<mapping>/<rule>: <description or rule name>`. */
  reason: string;
  skipWhen: CompiledExpr;
}

export interface CompiledEvent {
  key: string;
  quantity: CompiledExpr;
  properties: CompiledProperty[];
}

export interface CompiledMetric {
  metric: string;
  description?: string;
  valueProperty: string;
  properties: CompiledProperty[];
  events: CompiledEvent[];
  /** Names Lago / OpenMeter use instead of ours; absent when both use ours. */
  destinations?: DestinationNames;
}

export interface CompiledSplit {
  /** `<mapping>/split:`, the start of its skip reasons. */
  reason: string;
  shares: CompiledExpr;
}

export interface CompiledMapping {
  name: string;
  description: string | undefined;
  file: string;
  /** Short content hash of the file: which policy produced an event, for audit. */
  version: string;
  customer: CompiledExpr[];
  subscription: CompiledExpr | undefined;
  rules: CompiledRule[];
  metrics: CompiledMetric[];
  /** `params` as expressions read it (absent: the mapping declares none). */
  params?: object;
  /** The reserved param `estimate_usage` is true. */
  estimateUsage?: boolean;
  split?: CompiledSplit;
}

export interface MappingSet {
  /** Short hash over every mapping's name and version: changes whenever any mapping changes. */
  version: string;
  /** The mappings that bill (`enabled` is not false). */
  mappings: readonly CompiledMapping[];
  /** Mappings in the set that are switched off (`enabled: false`): checked, never applied. */
  disabled?: readonly CompiledMapping[];
}

/** Readable location of an expression: list indexes become the item's name where it has one. */
export function labelOf(path: Path, data: unknown): string {
  let label = "";
  let node: unknown = data;
  for (const segment of path) {
    const item = (node as Record<string | number, unknown> | undefined)?.[segment];
    if (typeof segment === "number") {
      const named = item as { name?: unknown; key?: unknown; metric?: unknown } | undefined;
      const id = [named?.name, named?.key, named?.metric].find((v) => typeof v === "string");
      label += `[${id ?? segment}]`;
    } else {
      label += label ? `.${segment}` : segment;
    }
    node = item;
  }
  return label;
}

/**
 * Builds the executable mapping from a validated definition and its compiled expressions, looked
 * up by their path in the file (`written` is the data as written, before defaults and transforms).
 */
export function assemble(
  def: MappingDef,
  written: unknown,
  file: string,
  version: string,
  exprAt: (path: Path) => CompiledExpr,
  params?: object,
): CompiledMapping {
  // `customer` may be written as one expression or a list of them.
  const customerIsList = Array.isArray((written as { customer?: unknown }).customer);
  const props = (base: Path, record: Record<string, string>): CompiledProperty[] =>
    Object.keys(record).map((name) => ({ name, value: exprAt([...base, name]) }));
  const oneLine = (text: string) => text.replace(/\s+/g, " ").trim();
  return {
    name: def.name,
    description: def.description,
    file,
    version,
    customer: def.customer.map((_, i) => exprAt(customerIsList ? ["customer", i] : ["customer"])),
    subscription: def.subscription === undefined ? undefined : exprAt(["subscription"]),
    rules: def.rules.map((rule, i) => ({
      name: rule.name,
      reason: `${def.name}/${rule.name}: ${oneLine(rule.description ?? rule.name)}`,
      skipWhen: exprAt(["rules", i, "skip_when"]),
    })),
    metrics: def.metrics.map((metric, m) => {
      const destinations = destinationNames(metric);
      return {
        metric: metric.metric,
        ...(metric.description === undefined ? {} : { description: metric.description }),
        valueProperty: metric.value_property,
        properties: props(["metrics", m, "properties"], metric.properties),
        events: metric.events.map((event, e) => ({
          key: event.key,
          quantity: exprAt(["metrics", m, "events", e, "quantity"]),
          properties: props(["metrics", m, "events", e, "properties"], event.properties),
        })),
        ...(destinations ? { destinations } : {}),
      };
    }),
    ...(Object.keys(def.params).length > 0 && params ? { params } : {}),
    ...(def.params[ESTIMATE_PARAM]?.value === true ? { estimateUsage: true } : {}),
    ...(def.split ? { split: { reason: `${def.name}/split:`, shares: exprAt(["split", "shares"]) } } : {}),
  };
}

/** The metric's destination names, only where they differ from ours. */
export function destinationNames(metric: MetricDef): DestinationNames | undefined {
  const out: DestinationNames = {};
  const renames = (p: Record<string, string>) => (Object.keys(p).length > 0 ? { properties: { ...p } } : {});
  if (metric.lago) out.lago = { code: metric.lago.code ?? metric.metric, ...renames(metric.lago.properties) };
  if (metric.openmeter) out.openmeter = { type: metric.openmeter.event_type ?? metric.metric, ...renames(metric.openmeter.properties) };
  return out.lago || out.openmeter ? out : undefined;
}
