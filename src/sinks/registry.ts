import type { Destination } from "../model/index.js";
import { createLagoSink } from "./lago/lago-sink.js";
import { createOpenMeterSink } from "./openmeter/openmeter-sink.js";
import type { BillingSink } from "./sink.js";

/** How to reach a destination: LAGO_API_URL / OPENMETER_URL, the matching key, and a per-request deadline. */
export interface SinkConfig {
  url: string;
  apiKey: string;
  timeoutMs?: number;
  /** OpenMeter only: confirm by id what a failed request stored (default true); see OpenMeterSinkConfig. */
  confirmAfterFailure?: boolean;
  /** OpenMeter only: waits before each confirmation lookup (default [250, 1000, 2000] ms). */
  confirmDelaysMs?: number[];
}

type Factory = (config: SinkConfig) => BillingSink;

const factories = {
  lago: (c) => createLagoSink({ apiUrl: c.url, apiKey: c.apiKey, timeoutMs: c.timeoutMs }),
  openmeter: (c) =>
    createOpenMeterSink({ url: c.url, apiKey: c.apiKey, timeoutMs: c.timeoutMs, confirmAfterFailure: c.confirmAfterFailure, confirmDelaysMs: c.confirmDelaysMs }),
} satisfies Record<Destination, Factory>;

/** Throws UserError (never quoting the key) when the URL or key cannot work at all. */
export function createSink(kind: Destination, config: SinkConfig): BillingSink {
  return factories[kind](config);
}
