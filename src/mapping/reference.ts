/**
 * @module The mapping language reference (`mappings/README.md`), generated from the same zod
 * schema the loader validates with: every key with its type, default, description and example,
 * the fields expressions can read, and the problem codes. The hand-written introduction lives in
 * `readme.template.md`; the test fails when the committed README differs from what this gives.
 */
import { readFileSync } from "node:fs";
import * as z from "zod";
import { RECORD_FIELD_TYPES } from "./cel-env.js";
import { PROBLEM_KINDS } from "./problems.js";
import { celExpressions, MappingSchema, type CelKind } from "./schema.js";

const CEL_TYPE: Record<CelKind, string> = {
  condition: "CEL condition",
  customer: "CEL id",
  subscription: "CEL text",
  quantity: "CEL number",
  property: "CEL value",
  split: "CEL list",
};

interface Field {
  key: string;
  type: string;
  required: boolean;
  default?: unknown;
  description: string;
  example?: unknown;
}

interface Section {
  /** `metrics[].events[]`, or "" for the top level. */
  path: string;
  description: string;
  fields: Field[];
}

type Meta = { description?: string; examples?: unknown[] };
const metaOf = (s: z.ZodType): Meta => (z.globalRegistry.get(s) as Meta | undefined) ?? {};

/** Peels optional / default / pipe wrappers, collecting what they say. */
function peel(schema: z.ZodType): { inner: z.ZodType; required: boolean; default?: unknown; meta: Meta } {
  let s = schema;
  let required = true;
  let dflt: unknown;
  let meta: Meta = {};
  for (;;) {
    meta = { ...metaOf(s), ...meta };
    if (celExpressions.has(s)) break;
    if (s instanceof z.ZodOptional) required = false;
    else if (s instanceof z.ZodDefault) {
      required = false;
      dflt = (s.def as { defaultValue: unknown }).defaultValue;
    } else if (s instanceof z.ZodPipe) {
      s = s.in as z.ZodType;
      continue;
    } else break;
    s = (s as z.ZodOptional<z.ZodType> | z.ZodDefault<z.ZodType>).unwrap() as z.ZodType;
  }
  return { inner: s, required, ...(dflt === undefined ? {} : { default: dflt }), meta };
}

function typeName(s: z.ZodType): string {
  const cel = celExpressions.get(s);
  if (cel) return CEL_TYPE[cel.kind];
  if (s instanceof z.ZodString) return "text";
  if (s instanceof z.ZodBoolean) return "true/false";
  if (s instanceof z.ZodNumber) return "number";
  if (s instanceof z.ZodArray) return `list of ${typeName(peel(s.element as z.ZodType).inner)}`;
  if (s instanceof z.ZodRecord) return `map of name → ${typeName(peel(s.valueType as z.ZodType).inner)}`;
  if (s instanceof z.ZodObject) return "map";
  if (s instanceof z.ZodUnion) {
    const options = (s.options as z.ZodType[]).map((o) => typeName(peel(o).inner));
    const cels = options.filter((o) => o.startsWith("CEL "));
    if (cels.length === 1 && options.length === 2 && options.includes(`list of ${cels[0]}`)) return `${cels[0]}, or a list of them`;
    return [...new Set(options)].join(" or ");
  }
  return "value";
}

/** Sections for an object schema and every object nested in it, depth first. */
function sections(schema: z.ZodObject, path: string, description: string): Section[] {
  const fields: Field[] = [];
  const nested: Section[] = [];
  for (const [key, child] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const { inner, required, default: dflt, meta } = peel(child);
    const field: Field = { key, type: typeName(inner), required, description: meta.description ?? "", ...(dflt === undefined ? {} : { default: dflt }) };
    if (meta.examples?.length) field.example = meta.examples[0];
    fields.push(field);
    const here = path ? `${path}.${key}` : key;
    const items = inner instanceof z.ZodArray ? peel(inner.element as z.ZodType).inner : undefined;
    const values = inner instanceof z.ZodRecord ? peel(inner.valueType as z.ZodType).inner : undefined;
    if (inner instanceof z.ZodObject) nested.push(...sections(inner, here, meta.description ?? ""));
    else if (items instanceof z.ZodObject) nested.push(...sections(items, `${here}[]`, metaOf(items).description ?? meta.description ?? ""));
    else if (values instanceof z.ZodObject) nested.push(...sections(values, `${here}.<name>`, metaOf(values).description ?? meta.description ?? ""));
  }
  return [{ path, description, fields }, ...nested];
}

const cell = (text: string) => text.replace(/\s+/g, " ").replace(/\|/g, "\\|").trim();
const code = (v: unknown) => {
  const text = typeof v === "string" ? v : JSON.stringify(v);
  return text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``;
};

function renderSection(s: Section): string {
  const rows = s.fields.map((f) =>
    [
      `\`${f.key}\``,
      cell(f.type) + (f.required ? " (required)" : ""),
      f.default === undefined ? "" : code(f.default),
      cell(f.description),
      f.example === undefined ? "" : cell(code(f.example)),
    ].join(" | "),
  );
  return [
    `### ${s.path ? `\`${s.path}\`` : "Top level"}`,
    "",
    ...(s.description ? [cell(s.description), ""] : []),
    "| Key | Type | Default | Description | Example |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r} |`),
  ].join("\n");
}

/** The generated part: keys, record fields, problem codes. */
export function mappingReference(): string {
  const keys = sections(MappingSchema, "", metaOf(MappingSchema).description ?? "").map(renderSection).join("\n\n");
  const fields = Object.entries(RECORD_FIELD_TYPES)
    .map(([name, type]) => `| \`record.${name}\` | ${cell(type)} |`)
    .join("\n");
  const problems = Object.entries(PROBLEM_KINDS)
    .map(([kind, k]) => `| \`${k.code}\` | \`${kind}\` | ${k.severity} | ${cell(k.summary)} |`)
    .join("\n");
  return [
    "## Reference",
    "",
    "Generated from `src/mapping/schema.ts` — edit the schema (or `src/mapping/readme.template.md` for the",
    "text above), then run `npx vitest run test/mapping -u` to regenerate this file.",
    "",
    keys,
    "",
    "### What expressions read",
    "",
    "| Field | CEL type — meaning |",
    "| --- | --- |",
    fields,
    "",
    "`params.<name>` reads a param of the mapping; `customer` (in `subscription`, `properties`, and",
    "`quantity` without `split`) is the resolved customer id. Functions: the CEL standard ones,",
    "`round(x)` (nearest whole number, halves away from zero), optional access `record.?x.orValue(y)`.",
    "",
    "### Problem codes",
    "",
    "`tracebill mappings validate` reports every problem with its code; warnings do not stop a set",
    "from loading (`--deny-warnings` makes them fail the check).",
    "",
    "| Code | Name | Severity | Meaning |",
    "| --- | --- | --- | --- |",
    problems,
    "",
  ].join("\n");
}

export const README_TEMPLATE = new URL("./readme.template.md", import.meta.url);
const MARKER = "<!-- reference: generated below, do not edit by hand -->";

/** `mappings/README.md`: the hand-written template with the generated reference in place of its marker. */
export function mappingReadme(template: string = readFileSync(README_TEMPLATE, "utf8")): string {
  if (!template.includes(MARKER)) throw new Error(`the README template has no '${MARKER}' line`);
  return template.replace(MARKER, `${MARKER}\n\n${mappingReference()}`).replace(/\n+$/, "\n");
}
