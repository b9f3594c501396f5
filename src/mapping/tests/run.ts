/**
 * @module Runs one test case: evaluates its record with the mapping set and compares the outcome
 * with what the case expects. Events compare as a set, on the fields the case states only;
 * numbers compare exactly. Pure: no I/O.
 */
import type { BillableEvent, Skip } from "../../model/index.js";
import type { MappingSet } from "../compile.js";
import { evaluateRecord } from "../evaluate.js";
import type { MappingTestCase } from "./load.js";
import type { ExpectedEvent } from "./schema.js";

/** A field the event does not have. */
export const ABSENT_FIELD: unique symbol = Symbol("absent");

export interface FieldDiff {
  /** `value`, `properties.model`, … */
  field: string;
  expected: unknown;
  actual: unknown;
}

export type Failure =
  /** A stated event matched no actual one; `actual` is the closest unmatched event. */
  | { kind: "event"; index: number; expected: ExpectedEvent; actual: BillableEvent; diffs: FieldDiff[] }
  | { kind: "missing-event"; index: number; expected: ExpectedEvent }
  | { kind: "unexpected-event"; actual: BillableEvent }
  | { kind: "missing-skip"; expected: string }
  | { kind: "unexpected-skip"; reason: string };

export interface CaseResult {
  case: MappingTestCase;
  passed: boolean;
  failures: Failure[];
  /** What the mappings actually did with the record. */
  events: BillableEvent[];
  skips: Skip[];
  /** Mappings the case ran against (events name theirs when there are several). */
  mappings: number;
}

export function runCase(set: MappingSet, c: MappingTestCase): CaseResult {
  const { events, skips } = evaluateRecord(set, c.record);
  const failures: Failure[] = [];
  if (c.expect.events) failures.push(...compareEvents(c.expect.events, events));
  if (c.expect.skipped) failures.push(...compareSkips(c.expect.skipped, skips));
  return { case: c, passed: failures.length === 0, failures, events, skips, mappings: set.mappings.length };
}

function compareEvents(expected: readonly ExpectedEvent[], actual: readonly BillableEvent[]): Failure[] {
  const diffs = expected.map((e) => actual.map((a) => diffEvent(e, a)));
  const pairOf = maxMatching(diffs.map((row) => row.map((d) => d.length === 0)), actual.length);
  const taken = new Set(pairOf.filter((a): a is number => a !== undefined));
  const failures: Failure[] = [];
  // As many unmatched on both sides: each expected event was produced differently, so show the
  // nearest one field by field. Otherwise only a near one (sharing a stated field) is paired.
  const oneToOne = expected.length - taken.size === actual.length - taken.size;
  expected.forEach((e, i) => {
    if (pairOf[i] !== undefined) return;
    let best: number | undefined;
    actual.forEach((_, j) => {
      if (taken.has(j)) return;
      if (best === undefined || diffs[i]![j]!.length < diffs[i]![best]!.length) best = j;
    });
    if (best !== undefined && (oneToOne || diffs[i]![best]!.length < statedFields(e))) {
      taken.add(best);
      failures.push({ kind: "event", index: i, expected: e, actual: actual[best]!, diffs: diffs[i]![best]! });
    } else {
      failures.push({ kind: "missing-event", index: i, expected: e });
    }
  });
  actual.forEach((a, j) => {
    if (!taken.has(j)) failures.push({ kind: "unexpected-event", actual: a });
  });
  return failures;
}

/**
 * Pairs each expected event with a distinct compatible actual one, as many as possible (Kuhn's
 * augmenting paths): a greedy first fit could claim the event another expectation needed.
 */
function maxMatching(compatible: boolean[][], actualCount: number): (number | undefined)[] {
  const ownerOf: (number | undefined)[] = Array.from({ length: actualCount });
  const tryAssign = (i: number, visited: Set<number>): boolean => {
    for (let j = 0; j < actualCount; j++) {
      if (!compatible[i]![j] || visited.has(j)) continue;
      visited.add(j);
      const owner = ownerOf[j];
      if (owner === undefined || tryAssign(owner, visited)) {
        ownerOf[j] = i;
        return true;
      }
    }
    return false;
  };
  compatible.forEach((_, i) => tryAssign(i, new Set()));
  const pairOf: (number | undefined)[] = compatible.map(() => undefined);
  ownerOf.forEach((i, j) => {
    if (i !== undefined) pairOf[i] = j;
  });
  return pairOf;
}

function statedFields(e: ExpectedEvent): number {
  return Object.entries(e).reduce((n, [k, v]) => n + (k === "properties" ? Object.keys(v as object).length : 1), 0);
}

/** Differences on the fields the expectation states, in the order people read an event. */
export function diffEvent(e: ExpectedEvent, a: BillableEvent): FieldDiff[] {
  const out: FieldDiff[] = [];
  const check = (field: string, expected: unknown, actual: unknown, same: (x: unknown, y: unknown) => boolean = (x, y) => x === y) => {
    if (expected !== undefined && !same(expected, actual)) out.push({ field, expected, actual: actual === undefined ? ABSENT_FIELD : actual });
  };
  check("customer", e.customer, a.customer);
  check("metric", e.metric, a.metric);
  check("mapping", e.mapping, a.mapping);
  check("value", e.value, a.value);
  for (const [name, want] of Object.entries(e.properties ?? {})) {
    const has = Object.hasOwn(a.properties, name);
    if (want === null) {
      if (has) out.push({ field: `properties.${name}`, expected: ABSENT_FIELD, actual: a.properties[name] });
    } else if (!has || a.properties[name] !== want) {
      out.push({ field: `properties.${name}`, expected: want, actual: has ? a.properties[name] : ABSENT_FIELD });
    }
  }
  check("timestamp", e.timestamp, a.timestamp, sameInstant);
  check("subscription", e.subscription, a.subscription);
  check("estimated", e.estimated, a.estimated ?? false);
  check("id", e.id, a.id);
  return out;
}

function sameInstant(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  const [tx, ty] = [Date.parse(String(x)), Date.parse(String(y))];
  return !Number.isNaN(tx) && tx === ty;
}

function compareSkips(expected: readonly string[], skips: readonly Skip[]): Failure[] {
  const reasons = skips.map((s) => s.reason);
  const matches = (want: string, reason: string) => reason.toLowerCase().includes(want.toLowerCase());
  const failures: Failure[] = [];
  for (const want of expected) {
    if (!reasons.some((r) => matches(want, r))) failures.push({ kind: "missing-skip", expected: want });
  }
  for (const reason of reasons) {
    if (!expected.some((want) => matches(want, reason))) failures.push({ kind: "unexpected-skip", reason });
  }
  return failures;
}
