/**
 * @module Warnings: a mapping that loads but probably does not mean what it says — a rule that
 * skips everything, a quantity that is always 0, a param nobody reads or compared with a typo.
 * Found from what the compiler learned about each expression (`ExprFacts`), never by running
 * records through it.
 */
import { ABSENT } from "./cel-env.js";
import type { CompiledExpr, CompiledMapping } from "./compile.js";
import { classified, type MappingProblem, type ProblemKind } from "./problems.js";
import { ESTIMATE_PARAM, type MappingDef } from "./schema.js";
import type { Path } from "./schema-walk.js";
import type { YamlSource } from "./yaml-source.js";

/** Every expression of a compiled mapping with its path in the file. */
export function expressionsOf(m: CompiledMapping, customerIsList: boolean): { path: Path; expr: CompiledExpr }[] {
  const out: { path: Path; expr: CompiledExpr }[] = [];
  m.customer.forEach((expr, i) => out.push({ path: customerIsList ? ["customer", i] : ["customer"], expr }));
  if (m.subscription) out.push({ path: ["subscription"], expr: m.subscription });
  if (m.split) out.push({ path: ["split", "shares"], expr: m.split.shares });
  m.rules.forEach((r, i) => out.push({ path: ["rules", i, "skip_when"], expr: r.skipWhen }));
  m.metrics.forEach((metric, mi) => {
    metric.properties.forEach((p) => out.push({ path: ["metrics", mi, "properties", p.name], expr: p.value }));
    metric.events.forEach((event, ei) => {
      out.push({ path: ["metrics", mi, "events", ei, "quantity"], expr: event.quantity });
      event.properties.forEach((p) => out.push({ path: ["metrics", mi, "events", ei, "properties", p.name], expr: p.value }));
    });
  });
  return out;
}

export function lintMapping(source: YamlSource, def: MappingDef, m: CompiledMapping, customerIsList: boolean): MappingProblem[] {
  const problems: MappingProblem[] = [];
  const warn = (kind: ProblemKind, path: Path, message: string, on: "key" | "value" = "value") =>
    problems.push(classified(source.problem(path, message, on), kind, m.name));

  // Rules: a constant condition either skips every record or none.
  const fires = m.metrics.map((metric) => `'${metric.metric}'`).join(", ");
  m.rules.forEach((rule, i) => {
    const f = rule.skipWhen.facts;
    if (!f?.constant) return;
    if (f.value === true) {
      warn("skips-everything", ["rules", i, "skip_when"], `rule '${rule.name}' skips every record, so ${fires} can never fire from this mapping`);
    } else if (f.value === false) {
      warn("never-skips", ["rules", i, "skip_when"], `rule '${rule.name}' never skips anything (its condition is always false)`);
    }
  });

  // Quantities that are always 0 never emit; a metric whose quantities all are never fires.
  m.metrics.forEach((metric, mi) => {
    const zero = metric.events.map((e) => e.quantity.facts?.constant === true && e.quantity.facts.value === 0);
    metric.events.forEach((event, ei) => {
      if (!zero[ei]) return;
      const all = zero.every(Boolean);
      warn("zero-quantity", ["metrics", mi, "events", ei, "quantity"],
        `the quantity of event '${event.key}' is always 0, so it never fires${all ? `; metric '${metric.metric}' can never fire` : ""}`);
    });
  });

  // A constant customer bills every record to one customer.
  const first = m.customer[0]?.facts;
  if (first?.constant && first.value !== undefined && first.value !== ABSENT) {
    warn("constant-customer", customerIsList ? ["customer", 0] : ["customer"], `every record is billed to the same customer '${String(first.value)}'; did you mean a field such as record.attributes.tenant_id?`);
  }

  // Params: declared but never read; compared with a value outside their one_of.
  const expressions = expressionsOf(m, customerIsList);
  const read = new Set(expressions.flatMap(({ expr }) => expr.facts?.params ?? []));
  for (const name of Object.keys(def.params)) {
    if (name === ESTIMATE_PARAM || read.has(name)) continue;
    warn("unused-param", ["params", name], `param '${name}' is declared but no expression reads params.${name}`, "key");
  }
  for (const { path, expr } of expressions) {
    for (const c of expr.facts?.comparisons ?? []) {
      const allowed = def.params[c.param]?.one_of;
      if (!allowed || allowed.includes(c.literal)) continue;
      const message = `${expr.at}: params.${c.param} is compared with ${JSON.stringify(c.literal)}, which is not one of ${allowed.map((v) => JSON.stringify(v)).join(", ")}; that comparison never holds`;
      problems.push(classified(source.expressionProblem(path, expr.source, c.offset, message), "param-value-typo", expr.at));
    }
  }
  return problems;
}
