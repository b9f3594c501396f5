/**
 * @module The destination definitions a mapping set expects: one Lago billable metric and one
 * OpenMeter meter per metric, summing its quantity and grouping by its properties, under the
 * names each destination uses. Derived from the compiled set, so they cannot drift from it.
 */
import type { CompiledExpr, CompiledMapping, MappingSet } from "./compile.js";

/** Body of Lago's `POST /api/v1/billable_metrics` (`billable_metric`). */
export interface LagoBillableMetric {
  name: string;
  code: string;
  description?: string;
  aggregation_type: "sum_agg";
  field_name: string;
  recurring: false;
  /** Properties whose values the mapping fixes (e.g. type: input / output), for charge filters. */
  filters: { key: string; values: string[] }[];
}

export interface LagoDefinition {
  billable_metric: LagoBillableMetric;
  /**
   * Properties with open-ended values (model, feature): not filters, since their values come
   * from the traces; a charge can group its price by them (`properties.pricing_group_keys`).
   */
  pricing_group_keys: string[];
}

/** Body of OpenMeter's `POST /api/v1/meters`. */
export interface OpenMeterMeter {
  slug: string;
  name: string;
  description?: string;
  eventType: string;
  aggregation: "SUM";
  valueProperty: string;
  groupBy: Record<string, string>;
}

export interface MeterDefinitions {
  lago: { billable_metrics: LagoDefinition[] };
  openmeter: { meters: OpenMeterMeter[] };
}

interface Dimension {
  name: string;
  /** The values the mapping can give it, or undefined when they come from the records. */
  values: Set<string> | undefined;
}

/** Every metric the set's mappings emit, with the properties its events can carry. */
function collect(mappings: readonly CompiledMapping[]) {
  const metrics = new Map<string, { m: CompiledMapping["metrics"][number]; dims: Map<string, Dimension> }>();
  for (const mapping of mappings) {
    for (const metric of mapping.metrics) {
      const entry = metrics.get(metric.metric) ?? { m: metric, dims: new Map<string, Dimension>() };
      metrics.set(metric.metric, entry);
      for (const event of metric.events) {
        const props = new Map<string, CompiledExpr>(metric.properties.map((p) => [p.name, p.value]));
        for (const p of event.properties) props.set(p.name, p.value);
        for (const [name, expr] of props) {
          const dim = entry.dims.get(name) ?? { name, values: new Set<string>() };
          entry.dims.set(name, dim);
          const v = expr.facts?.constant ? expr.facts.value : undefined;
          if (dim.values && (typeof v === "string" || typeof v === "number" || typeof v === "boolean")) dim.values.add(String(v));
          else dim.values = undefined;
        }
      }
    }
  }
  return [...metrics.values()];
}

/** OpenMeter slugs are lower-case words joined by '_'. */
export function meterSlug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "") || "meter";
}

/** The definitions for the set's enabled mappings (and its disabled ones with `includeDisabled`). */
export function meterDefinitions(set: MappingSet, opts: { includeDisabled?: boolean } = {}): MeterDefinitions {
  const mappings = opts.includeDisabled ? [...set.mappings, ...(set.disabled ?? [])] : set.mappings;
  const lago: LagoDefinition[] = [];
  const meters: OpenMeterMeter[] = [];
  for (const { m, dims } of collect(mappings)) {
    const description = m.description === undefined ? {} : { description: m.description.replace(/\s+/g, " ").trim() };
    const lagoNames = m.destinations?.lago;
    const lagoName = (p: string) => lagoNames?.properties?.[p] ?? p;
    const known = [...dims.values()].filter((d) => d.values !== undefined);
    const open = [...dims.values()].filter((d) => d.values === undefined);
    lago.push({
      billable_metric: {
        name: m.metric,
        code: lagoNames?.code ?? m.metric,
        ...description,
        aggregation_type: "sum_agg",
        field_name: lagoName(m.valueProperty),
        recurring: false,
        filters: known.map((d) => ({ key: lagoName(d.name), values: [...d.values!].sort() })),
      },
      pricing_group_keys: open.map((d) => lagoName(d.name)),
    });
    const omNames = m.destinations?.openmeter;
    const omName = (p: string) => omNames?.properties?.[p] ?? p;
    const eventType = omNames?.type ?? m.metric;
    meters.push({
      slug: meterSlug(eventType),
      name: m.metric,
      ...description,
      eventType,
      aggregation: "SUM",
      valueProperty: `$.${omName(m.valueProperty)}`,
      groupBy: Object.fromEntries([...dims.keys()].map((p) => [omName(p), `$.${omName(p)}`])),
    });
  }
  return { lago: { billable_metrics: lago }, openmeter: { meters } };
}
