/**
 * @module Walks the mapping schema alongside (possibly invalid) data, so CEL expressions and
 * allowed keys are found from the schema itself rather than from a second hand-written list.
 */
import * as z from "zod";
import { celExpressions, type CelKind } from "./schema.js";

export type Path = readonly (string | number)[];

export interface CelSlot {
  path: Path;
  kind: CelKind;
  source: string;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Strips wrappers that do not change the data's shape; picks the union branch the data looks like. */
function unwrap(schema: z.ZodType, data: unknown): z.ZodType {
  for (;;) {
    if (celExpressions.has(schema)) return schema;
    if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault || schema instanceof z.ZodNullable) {
      schema = schema.unwrap() as z.ZodType;
    } else if (schema instanceof z.ZodPipe) {
      schema = schema.in as z.ZodType;
    } else if (schema instanceof z.ZodUnion) {
      const options = schema.options as readonly z.ZodType[];
      schema = options.find((o) => shapeOf(unwrap(o, data)) === shapeOf(data)) ?? options[0]!;
    } else {
      return schema;
    }
  }
}

function shapeOf(v: unknown): "list" | "map" | "scalar" {
  if (v instanceof z.ZodArray || Array.isArray(v)) return "list";
  if (v instanceof z.ZodObject || v instanceof z.ZodRecord || isMap(v)) return "map";
  return "scalar";
}

function child(schema: z.ZodType, key: string | number): z.ZodType | undefined {
  if (schema instanceof z.ZodObject) return (schema.shape as Record<string, z.ZodType>)[String(key)];
  if (schema instanceof z.ZodArray) return schema.element as z.ZodType;
  if (schema instanceof z.ZodRecord) return schema.valueType as z.ZodType;
  return undefined;
}

/** Every CEL expression in `data` at a place the schema expects one, even when other parts are invalid. */
export function celSlots(schema: z.ZodType, data: unknown, path: Path = []): CelSlot[] {
  const s = unwrap(schema, data);
  const cel = celExpressions.get(s);
  if (cel) {
    const ok = typeof data === "string" || typeof data === "number" || typeof data === "boolean";
    return ok ? [{ path, kind: cel.kind, source: String(data) }] : [];
  }
  const out: CelSlot[] = [];
  if (Array.isArray(data) && s instanceof z.ZodArray) {
    data.forEach((item, i) => out.push(...celSlots(s.element as z.ZodType, item, [...path, i])));
  } else if (isMap(data) && (s instanceof z.ZodObject || s instanceof z.ZodRecord)) {
    for (const [key, value] of Object.entries(data)) {
      const c = child(s, key);
      if (c) out.push(...celSlots(c, value, [...path, key]));
    }
  }
  return out;
}

/** Keys the schema allows for the map at `path` in `data`, or undefined when it is not a fixed-key map. */
export function allowedKeysAt(schema: z.ZodType, data: unknown, path: Path): string[] | undefined {
  let s: z.ZodType | undefined = schema;
  let d = data;
  for (const key of path) {
    s = child(unwrap(s, d), key);
    if (!s) return undefined;
    d = Array.isArray(d) || isMap(d) ? (d as Record<string | number, unknown>)[key] : undefined;
  }
  const target = unwrap(s, d);
  return target instanceof z.ZodObject ? Object.keys(target.shape) : undefined;
}
