/**
 * @module Rules the schema cannot express: uniqueness that keeps idempotency keys and skip
 * reasons unambiguous, names that must agree within one mapping and across the set.
 */
import { destinationNames } from "./compile.js";
import { classified, type MappingProblem, type ProblemKind } from "./problems.js";
import { ESTIMATE_PARAM, ESTIMATED_PROPERTY, VERSION_PROPERTY, type MappingDef, type MetricDef } from "./schema.js";
import type { Path } from "./schema-walk.js";
import type { YamlSource } from "./yaml-source.js";

/** First occurrence wins; each later duplicate is reported where it is, pointing back to the first. */
function firstSeen<K>() {
  const seen = new Map<K, string>();
  return (key: K, where: string): string | undefined => {
    const first = seen.get(key);
    if (first === undefined) seen.set(key, where);
    return first;
  };
}

const DESTINATIONS = ["lago", "openmeter"] as const;

/** Every property name a metric's events can carry, the quantity and tracebill's own included. */
export function propertyNamesOf(metric: MetricDef): string[] {
  const names = new Set([...Object.keys(metric.properties), ...metric.events.flatMap((e) => Object.keys(e.properties))]);
  return [...names, metric.value_property, VERSION_PROPERTY, ESTIMATED_PROPERTY];
}

export function mappingChecks(source: YamlSource, def: MappingDef): MappingProblem[] {
  const problems: MappingProblem[] = [];
  const report = (kind: ProblemKind, path: Path, message: string, on: "key" | "value" = "value") =>
    problems.push(classified(source.problem(path, message, on), kind));

  const estimate = def.params[ESTIMATE_PARAM];
  if (estimate && typeof estimate.value !== "boolean") {
    report("reserved-param", ["params", ESTIMATE_PARAM, "value"], `params.${ESTIMATE_PARAM} must be true or false: tracebill reads it to decide whether to estimate missing token usage`);
  }

  const rule = firstSeen<string>();
  def.rules.forEach((r, i) => {
    const path = ["rules", i, "name"];
    const first = rule(r.name, source.where(path));
    if (first) report("duplicate-rule", path, `duplicate rule name '${r.name}' (first at ${first}); skip reasons must say which rule matched`);
  });

  // (metric, key) is what tells events of one record apart in the idempotency key.
  const eventKey = firstSeen<string>();
  def.metrics.forEach((metric, m) => {
    const reserved = (name: string, path: Path) => {
      if (name === metric.value_property) report("property-collision", path, `property '${name}' collides with value_property`, "key");
      else if (name === VERSION_PROPERTY || name === ESTIMATED_PROPERTY) {
        report("property-collision", path, `property '${name}' is set by tracebill itself (${name === VERSION_PROPERTY ? "the mapping's version, for audit" : "true on estimated quantities"}); choose another name`, "key");
      }
    };
    metric.events.forEach((event, e) => {
      const path = ["metrics", m, "events", e, "key"];
      const first = eventKey(`${metric.metric}\u0000${event.key}`, source.where(path));
      if (first) {
        report("duplicate-event-key", path, `duplicate event key '${event.key}' in metric '${metric.metric}' (first at ${first}); both events would get the same idempotency key`);
      }
      for (const name of Object.keys(event.properties)) reserved(name, ["metrics", m, "events", e, "properties", name]);
    });
    for (const name of Object.keys(metric.properties)) reserved(name, ["metrics", m, "properties", name]);

    // Renames must name a real property and must not make two properties one on the wire.
    const names = propertyNamesOf(metric);
    for (const d of DESTINATIONS) {
      const renames = metric[d]?.properties ?? {};
      const wire = new Map<string, string>();
      for (const name of names) wire.set(renames[name] ?? name, name);
      for (const [from, to] of Object.entries(renames)) {
        const path = ["metrics", m, d, "properties", from];
        if (!names.includes(from)) {
          report("unused-rename", path, `metric '${metric.metric}' has no property '${from}' to rename; its properties: ${names.join(", ")}`, "key");
        }
        const owner = wire.get(to);
        if (owner !== undefined && owner !== from) {
          report("property-collision", path, `'${from}' → '${to}' meets property '${owner}', which already has that name at ${d}`);
        }
      }
    }
  });
  return problems;
}

export interface LoadedFile {
  source: YamlSource;
  /** The name as written, even when the file has other problems, so duplicates are still caught. */
  name: string | undefined;
  /** Present when the file passed the schema. */
  def: MappingDef | undefined;
}

export function setChecks(files: readonly LoadedFile[]): MappingProblem[] {
  const problems: MappingProblem[] = [];
  const firstName = firstSeen<string>();
  // Per metric, the answers every mapping that emits it must agree on.
  const agreed = new Map<string, { value: string; names: string; where: string }>();
  // Per destination name, the metric that uses it: two metrics must not meet there.
  const owners = new Map<string, { metric: string; where: string }>();
  for (const { source, name, def } of files) {
    const first = name === undefined ? undefined : firstName(name, source.where(["name"]));
    if (first) problems.push(classified(source.problem(["name"], `duplicate mapping name '${name}' (first at ${first}); names must be unique in a set`), "duplicate-mapping"));
    if (!def) continue;

    def.metrics.forEach((metric, m) => {
      const path = ["metrics", m, "metric"];
      const where = source.where(path);
      const conflict = (message: string) => problems.push(classified(source.problem(path, message), "metric-conflict"));
      const names = JSON.stringify(destinationNames(metric) ?? {});
      const seen = agreed.get(metric.metric);
      if (!seen) agreed.set(metric.metric, { value: metric.value_property, names, where });
      // Destinations define one quantity property per metric; two answers would make one of them wrong.
      else if (seen.value !== metric.value_property) {
        conflict(`metric '${metric.metric}' uses value_property '${metric.value_property}' here but '${seen.value}' at ${seen.where}`);
      } else if (seen.names !== names) {
        conflict(`metric '${metric.metric}' has other lago/openmeter names here than at ${seen.where}; every mapping that emits a metric must name it alike`);
      }
      const dest = destinationNames(metric);
      for (const [d, wireName] of [["lago", dest?.lago?.code ?? metric.metric], ["openmeter", dest?.openmeter?.type ?? metric.metric]] as const) {
        const owner = owners.get(`${d}\u0000${wireName}`);
        if (!owner) owners.set(`${d}\u0000${wireName}`, { metric: metric.metric, where });
        else if (owner.metric !== metric.metric) {
          conflict(`metric '${metric.metric}' is sent to ${d} as '${wireName}', like metric '${owner.metric}' (${owner.where}); their quantities would be summed together`);
        }
      }
    });
  }
  return problems;
}
