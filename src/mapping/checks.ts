/**
 * @module Rules the schema cannot express: uniqueness that keeps idempotency keys and skip
 * reasons unambiguous, within one mapping and across the set.
 */
import type { MappingProblem } from "./problems.js";
import type { MappingDef } from "./schema.js";
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

export function mappingChecks(source: YamlSource, def: MappingDef): MappingProblem[] {
  const problems: MappingProblem[] = [];
  const report = (path: Path, message: string, on: "key" | "value" = "value") => problems.push(source.problem(path, message, on));

  const rule = firstSeen<string>();
  def.rules.forEach((r, i) => {
    const path = ["rules", i, "name"];
    const first = rule(r.name, source.where(path));
    if (first) report(path, `duplicate rule name '${r.name}' (first at ${first}); skip reasons must say which rule matched`);
  });

  // (metric, key) is what tells events of one record apart in the idempotency key.
  const eventKey = firstSeen<string>();
  def.metrics.forEach((metric, m) => {
    metric.events.forEach((event, e) => {
      const path = ["metrics", m, "events", e, "key"];
      const first = eventKey(`${metric.metric}\u0000${event.key}`, source.where(path));
      if (first) {
        report(path, `duplicate event key '${event.key}' in metric '${metric.metric}' (first at ${first}); both events would get the same idempotency key`);
      }
      for (const name of Object.keys(event.properties)) {
        if (name === metric.value_property) {
          report(["metrics", m, "events", e, "properties", name], `property '${name}' collides with value_property`, "key");
        }
      }
    });
    for (const name of Object.keys(metric.properties)) {
      if (name === metric.value_property) {
        report(["metrics", m, "properties", name], `property '${name}' collides with value_property`, "key");
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
  const valueProperty = new Map<string, { value: string; where: string }>();
  for (const { source, name, def } of files) {
    const first = name === undefined ? undefined : firstName(name, source.where(["name"]));
    if (first) problems.push(source.problem(["name"], `duplicate mapping name '${name}' (first at ${first}); names must be unique in a set`));
    if (!def) continue;

    // Destinations define one quantity property per metric; two answers would make one of them wrong.
    def.metrics.forEach((metric, m) => {
      const seen = valueProperty.get(metric.metric);
      const path = ["metrics", m, "metric"];
      if (!seen) valueProperty.set(metric.metric, { value: metric.value_property, where: source.where(path) });
      else if (seen.value !== metric.value_property) {
        problems.push(
          source.problem(path, `metric '${metric.metric}' uses value_property '${metric.value_property}' here but '${seen.value}' at ${seen.where}`),
        );
      }
    });
  }
  return problems;
}
