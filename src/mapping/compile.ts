/**
 * @module Compiles each CEL expression once, at load time, into a function the hot path calls
 * per record (no re-parsing), and assembles a validated mapping into its executable form.
 */
import { ParseError, type ASTNode, type ParseResult } from "@marcbachmann/cel-js";
import { ABSENT, KINDS, RECORD_FIELD_NAMES, fromCel, type Absent } from "./cel-env.js";
import type { CelKind, MappingDef } from "./schema.js";
import type { Path } from "./schema-walk.js";
import { closest } from "./suggest.js";

export interface CelContext {
  record: object;
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
}

export class CelRuntimeError extends Error {
  override name = "CelRuntimeError";
}

export type CompileOutcome = { ok: true; expr: CompiledExpr } | { ok: false; message: string; offset?: number };

export function compileExpression(kind: CelKind, source: string, at: string): CompileOutcome {
  if (source.trim() === "") return { ok: false, message: "the expression is empty" };
  const spec = KINDS[kind];
  let parsed: ParseResult;
  try {
    parsed = spec.env.parse(source);
  } catch (e) {
    if (e instanceof ParseError) return { ok: false, message: `CEL syntax error: ${e.summary}`, offset: e.range?.start };
    throw e;
  }
  const checked = parsed.check();
  if (!checked.valid) {
    const err = checked.error;
    const offset = err?.range?.start;
    const culprit = err?.range ? source.slice(err.range.start, err.range.end) : "";
    return { ok: false, message: `CEL error: ${err?.summary ?? "invalid expression"}${hint(err?.code, culprit, kind)}`, offset };
  }
  if (!spec.types.has(checked.type ?? "")) {
    return { ok: false, message: `this expression must give ${spec.wants}, but gives ${checked.type}` };
  }
  return { ok: true, expr: makeExpr(parsed, source, at) };
}

function hint(code: string | undefined, culprit: string, kind: CelKind): string {
  if (code === "unknown_variable") {
    if (culprit === "customer") return " (the customer is not known yet in rules and customer expressions)";
    return ` (expressions here see: ${KINDS[kind].scope}; for literal text write '${culprit}' with quotes)`;
  }
  if (code === "no_such_key") {
    const field = culprit.replace(/^\.\??/, "");
    const guess = closest(field, RECORD_FIELD_NAMES);
    return guess ? ` (did you mean '${guess}'?)` : "";
  }
  return "";
}

function makeExpr(parsed: ParseResult, source: string, at: string): CompiledExpr {
  const slow = (ctx: CelContext): CelValue => {
    try {
      return fromCel(parsed(ctx));
    } catch (e) {
      // "No such key" is how CEL reports a field this record lacks: absence, not failure.
      if ((e as { code?: unknown }).code === "no_such_key") return ABSENT;
      throw new CelRuntimeError((e as { summary?: string }).summary ?? (e instanceof Error ? e.message : String(e)));
    }
  };
  const path = selectPath(parsed.ast);
  if (!path) return { at, source, evaluate: slow };
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
  return { at, source, evaluate };
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
  valueProperty: string;
  properties: CompiledProperty[];
  events: CompiledEvent[];
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
}

export interface MappingSet {
  /** Short hash over every mapping's name and version: changes whenever any mapping changes. */
  version: string;
  mappings: readonly CompiledMapping[];
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
): CompiledMapping {
  // `customer` may be written as one expression or a list of them.
  const customerIsList = Array.isArray((written as { customer?: unknown }).customer);
  const props = (base: Path, record: Record<string, string>): CompiledProperty[] =>
    Object.keys(record).map((name) => ({ name, value: exprAt([...base, name]) }));
  return {
    name: def.name,
    description: def.description,
    file,
    version,
    customer: def.customer.map((_, i) => exprAt(customerIsList ? ["customer", i] : ["customer"])),
    subscription: def.subscription === undefined ? undefined : exprAt(["subscription"]),
    rules: def.rules.map((rule, i) => ({
      name: rule.name,
      reason: `${def.name}/${rule.name}: ${(rule.description ?? rule.name).replace(/\s+/g, " ")}`,
      skipWhen: exprAt(["rules", i, "skip_when"]),
    })),
    metrics: def.metrics.map((metric, m) => ({
      metric: metric.metric,
      valueProperty: metric.value_property,
      properties: props(["metrics", m, "properties"], metric.properties),
      events: metric.events.map((event, e) => ({
        key: event.key,
        quantity: exprAt(["metrics", m, "events", e, "quantity"]),
        properties: props(["metrics", m, "events", e, "properties"], event.properties),
      })),
    })),
  };
}
