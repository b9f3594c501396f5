import { Command, Option } from "commander";
import type { DlqOptions } from "./commands/dlq.js";
import { UserError } from "../model/index.js";

/** The command table. Each command returns its exit code; UserErrors print without a stack. */
export function buildProgram(): Command {
  const program = new Command("tracebill")
    .description("Turn LangSmith / Langfuse trace exports into usage-based billing for Lago and OpenMeter.")
    .showHelpAfterError();

  const run = (fn: () => Promise<number>) => async () => {
    process.exitCode = await fn();
  };

  program
    .command("preview")
    .description("dry run: what would be billed (no Redis, no network)")
    .argument("<inputs...>", "export files, directories or globs (LangSmith runs, Langfuse observations/traces; JSON, JSONL, CSV, Parquet, gzip), any order")
    .option("--mapping <path>", "mapping file or directory (default: MAPPINGS_DIR or ./mappings)")
    .option("--against <path>", "baseline mapping file or directory: show what --mapping changes against it, per customer and metric (before, after, difference, % change) and which skip reasons moved; the inputs are read once")
    .option("--by <properties>", "break the totals down by these event properties too, comma-separated (e.g. model,type)")
    .option("--attribution <path>", "attribution config (default: attribution.yaml beside the mappings)")
    .addOption(new Option("--allocate <model>", "how usage that names no tenant is billed (default: the attribution config's model)").choices(["direct", "activity", "weighted"]))
    .addOption(
      new Option("--format <format>", "table | csv | totals-json: totals per customer × metric, skipped and quarantined records by reason; json: every event, skip and quarantined record (with --against: the comparison as JSON)")
        .choices(["table", "json", "csv", "totals-json"])
        .default("table"),
    )
    .addOption(new Option("--source <platform>", "don't detect the platform").choices(["langsmith", "langfuse"]))
    .addOption(new Option("--input-format <container>", "don't detect the file format").choices(["json-array", "jsonl", "json-document", "csv", "parquet"]))
    .addHelpText("after", [
      "", "Examples:",
      "  tracebill preview ./exports --by model,type",
      "  tracebill preview ./exports --format csv > bill.csv",
      "  tracebill preview ./exports --mapping ./mappings --against ./mappings-before    what an edit changes in the bill",
      "", "To preview an API window, pull it to files first (--replay leaves the pull watermark alone), then preview them:",
      "  tracebill pull langsmith --replay --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --out ./window",
      "  tracebill preview ./window",
    ].join("\n"))
    .action(async (inputs: string[], o: { mapping?: string; against?: string; by?: string; format: string; source?: string; inputFormat?: string; attribution?: string; allocate?: string }) => {
      const { previewCommand } = await import("./commands/preview.js");
      await run(() => previewCommand(inputs, { ...o, mapping: o.mapping ?? process.env.MAPPINGS_DIR ?? "./mappings" }))();
    });

  const mappings = program.command("mappings").description("work with mapping files");
  mappings
    .command("validate")
    .description("report every problem in every mapping file: file:line:col, severity, code (a caret view on a terminal)")
    .argument("[path]", "mapping file or directory", process.env.MAPPINGS_DIR ?? "./mappings")
    .addOption(new Option("--format <format>", "caret (default on a terminal), compact (default otherwise) or json").choices(["caret", "compact", "json"]))
    .option("--deny-warnings", "exit 1 on warnings too")
    .action(async (path: string, o: { format?: "caret" | "compact" | "json"; denyWarnings?: boolean }) => {
      const { validateCommand } = await import("./commands/mappings.js");
      await run(() => validateCommand(path, o))();
    });

  mappings
    .command("meters")
    .description("print the Lago billable metrics and OpenMeter meters the mapping set expects")
    .argument("[path]", "mapping file or directory", process.env.MAPPINGS_DIR ?? "./mappings")
    .addOption(new Option("--format <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .option("--all", "include mappings switched off with enabled: false")
    .action(async (path: string, o: { format: "yaml" | "json"; all?: boolean }) => {
      const { metersCommand } = await import("./commands/mappings.js");
      await run(() => metersCommand(path, o))();
    });

  mappings
    .command("test")
    .description("run the mapping tests (*.test.yaml: records and the events or skips they must give); a diff per failing case; exit 1 on any failure")
    .argument("[path]", "test file, mapping file (its <name>.test.yaml) or directory", process.env.MAPPINGS_DIR ?? "./mappings")
    .option("--no-color", "plain text even on a terminal (also: NO_COLOR=1)")
    .action(async (path: string, o: { color: boolean }) => {
      const { mappingsTestCommand } = await import("./commands/mappings-test.js");
      await run(() => mappingsTestCommand(path, o.color ? {} : { color: false }))();
    });

  program
    .command("worker")
    .description("run the BullMQ workers (ingest + delivery) until SIGTERM")
    .action(async () => {
      const { workerCommand } = await import("./commands/worker.js");
      await run(workerCommand)();
    });

  program
    .command("sync")
    .description("enqueue inputs for delivery to a billing destination")
    .argument("<inputs...>", "export files, directories or globs")
    .requiredOption("--destination <name>", "lago or openmeter")
    .option("--mapping <path>", "mapping file or directory (default: MAPPINGS_DIR)")
    .option("--wait", "block until every event is delivered or dead-lettered; exit 1 if any was dead-lettered")
    .addOption(new Option("--source <platform>", "don't detect the platform").choices(["langsmith", "langfuse"]))
    .addOption(new Option("--input-format <container>", "don't detect the file format").choices(["json-array", "jsonl", "json-document", "csv", "parquet"]))
    .action(async (inputs: string[], o: { destination: string; mapping?: string; wait?: boolean; source?: string; inputFormat?: string }) => {
      const { syncCommand } = await import("./commands/sync.js");
      await run(() => syncCommand(inputs, o))();
    });

  program
    .command("pull")
    .description("read the LangSmith / Langfuse API from the stored position (or --from) up to now − lag, window by window")
    .argument("<platform>", "langfuse or langsmith")
    .option("--from <iso>", "where a never-pulled project starts (ignored once it has a watermark)")
    .option("--to <iso>", "stop here (exclusive); never later than now − TRACEBILL_PULL_LAG_MINUTES")
    .option("--out <dir>", "write each window as JSONL here (with --destination default: TRACEBILL_PULL_SPOOL_DIR)")
    .option("--destination <name>", "lago or openmeter: one ingest job per window")
    .option("--mapping <path>", "mapping file or directory (default: MAPPINGS_DIR)")
    .option("--replay", "re-read [--from, --to) without reading or moving the watermark")
    .option("--wait", "with --destination: block until every event is delivered or dead-lettered")
    .action(async (platform: string, o: Record<string, string | boolean | undefined>) => {
      const { pullCommand } = await import("./commands/pull.js");
      await run(() => pullCommand(platform, o as Parameters<typeof pullCommand>[1]))();
    });

  program
    .command("reconcile")
    .description("compare what was delivered with what the destination holds; writes report.md and report.json")
    .requiredOption("--destination <name>", "lago or openmeter")
    .requiredOption("--from <iso>", "start of the usage window (inclusive)")
    .requiredOption("--to <iso>", "end of the usage window (exclusive)")
    .option("--out <dir>", "report directory (default: TRACEBILL_REPORTS_DIR/<destination>-<time>)")
    .option("--mapping <path>", "mapping file or directory (default: MAPPINGS_DIR)")
    .option("--pending-minutes <n>", "destination ingestion lag: a shortfall within what was delivered this recently is 'pending' (default 15 openmeter, 1 lago)")
    .option("--repair", "re-send the events of 'missing' rows (re-mapped from --inputs) without creating duplicates, then reconcile again")
    .option("--inputs <files...>", "the exports of the window: exact not-billed figures, per-event checks of differing rows, allocation back-test; what --repair re-sends from")
    .action(async (o: { destination: string; from: string; to: string; out?: string; mapping?: string; pendingMinutes?: string; repair?: boolean; inputs?: string[] }) => {
      const { reconcileCommand } = await import("./commands/reconcile.js");
      await run(() => reconcileCommand(o))();
    });

  const attribution = program.command("attribution").description("attribution models: who pays for usage that names no tenant");
  const inputFlags = (c: Command) =>
    c.argument("<inputs...>", "export files, directories or globs, any order")
      .requiredOption("--from <iso>", "start of the usage period (inclusive)")
      .requiredOption("--to <iso>", "end of the usage period (exclusive)")
      .addOption(new Option("--model <model>", "allocation model (default: the attribution config's)").choices(["activity", "weighted"]))
      .option("--mapping <path>", "mapping file or directory (default: MAPPINGS_DIR or ./mappings)")
      .option("--attribution <path>", "attribution config (default: attribution.yaml beside the mappings)")
      .addOption(new Option("--source <platform>", "don't detect the platform").choices(["langsmith", "langfuse"]))
      .addOption(new Option("--input-format <container>", "don't detect the file format").choices(["json-array", "jsonl", "json-document", "csv", "parquet"]));
  inputFlags(attribution.command("backtest").description("run an allocation model beside direct attribution over a period: per-tenant divergence (no Redis, no network)"))
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .option("--events", "json: include the allocation events")
    .action(async (inputs: string[], o: { from: string; to: string; model?: string; mapping?: string; attribution?: string; format: string; events?: boolean; source?: string; inputFormat?: string }) => {
      const { attributionBacktestCommand } = await import("./commands/attribution.js");
      await run(() => attributionBacktestCommand(inputs, { ...o, mapping: o.mapping ?? process.env.MAPPINGS_DIR ?? "./mappings" }))();
    });
  inputFlags(attribution.command("allocate").description("the allocation events of whole closed windows: printed as JSON, or enqueued with --destination (sent once per window)"))
    .option("--destination <name>", "lago or openmeter: enqueue the events for delivery")
    .option("--scope <name>", "names this run in the event ids when other runs allocate other parts of the same windows")
    .action(async (inputs: string[], o: { from: string; to: string; model?: string; mapping?: string; attribution?: string; destination?: string; scope?: string; source?: string; inputFormat?: string }) => {
      const { attributionAllocateCommand } = await import("./commands/attribution.js");
      await run(() =>
        attributionAllocateCommand(inputs, { ...o, mapping: o.mapping ?? process.env.MAPPINGS_DIR ?? "./mappings" }, process.stdout, {
          enqueue: async (destination, events) => {
            const { baseContext, connectRedis } = await import("./context.js");
            const { enqueueRetry } = await import("../queue/enqueue.js");
            const { config } = baseContext();
            const redis = await connectRedis(config);
            try {
              return await enqueueRetry(redis, config, destination, events);
            } finally {
              await redis.quit();
            }
          },
        }),
      )();
    });

  program
    .command("explain")
    .description("the audit trail of an event id or a source record id: its run/observation, mapping version and delivery status per destination")
    .argument("<id>", "billable event id (tb_…) or LangSmith run / Langfuse observation id")
    .requiredOption("--inputs <files...>", "the exports the event or record came from")
    .option("--mapping <path>", "mapping file or directory (default: MAPPINGS_DIR)")
    .option("--json", "print JSON")
    .action(async (id: string, o: { inputs: string[]; mapping?: string; json?: boolean }) => {
      const { explainCommand } = await import("./commands/explain.js");
      await run(() => explainCommand(id, o))();
    });

  const dlq = program.command("dlq").description("list, show, retry or purge the events a destination refused (dead letters)");
  const dlqFlags = (c: Command) =>
    c.requiredOption("--destination <name>", "lago or openmeter")
      .option("--reason <text>", "only letters whose reason contains this text (case-insensitive)")
      .option("--customer <id>", "only this customer's letters")
      .option("--limit <n>", "at most this many letters, oldest first (list: default 50)")
      .option("--json", "print JSON instead of tables");
  const runDlq = (verb: "list" | "show" | "retry" | "purge", ids: string[], o: DlqOptions) =>
    run(async () => {
      const { dlqCommand } = await import("./commands/dlq.js");
      const { enqueueRetry } = await import("../queue/enqueue.js");
      return dlqCommand(verb, ids, o, (redis, config) => (destination, events) => enqueueRetry(redis, config, destination, events));
    })();
  dlqFlags(dlq.command("list").description("dead letters with reasons and source record ids, and counts by reason"))
    .action(async (o: DlqOptions) => runDlq("list", [], o));
  dlqFlags(dlq.command("show").description("one dead letter: the full event, its reason, when, attempts").argument("<event-id>"))
    .action(async (id: string, o: DlqOptions) => runDlq("show", [id], o));
  dlqFlags(dlq.command("retry").description("hand dead letters back for delivery; those refused again return to the list").argument("[event-ids...]"))
    .option("--all", "every dead letter of the destination")
    .action(async (ids: string[], o: DlqOptions) => runDlq("retry", ids, o));
  dlqFlags(dlq.command("purge").description("delete dead letters for good; prints how many").argument("[event-ids...]"))
    .option("--all", "every dead letter of the destination")
    .action(async (ids: string[], o: DlqOptions) => runDlq("purge", ids, o));

  program
    .command("status")
    .description("queue depths, throughput, dead letters, last pull / sync / scheduled reconcile per destination (exit 2 when Redis is unreachable)")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const { statusCommand } = await import("./commands/status.js");
      await run(() => statusCommand(o))();
    });

  const configCmd = program.command("config").description("the configuration tracebill reads from the environment");
  configCmd
    .command("check")
    .description("every problem at once (environment and MAPPINGS_DIR) and the effective config, secrets masked, with where each value came from; exit 0 valid, 2 invalid")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const { configCheckCommand } = await import("./commands/config.js");
      await run(() => configCheckCommand(o))();
    });

  program
    .command("sandbox")
    .description("run the local Lago/OpenMeter-compatible sandbox")
    .option("--port <port>", "port on 127.0.0.1", "4000")
    .option("--lago-key <key>", "API key the Lago side accepts", "sandbox-lago-key")
    .option("--openmeter-key <key>", "API key the OpenMeter side accepts", "sandbox-openmeter-key")
    .option("--customers <ids>", "seed like the demo: these customers (comma-separated), one active subscription each, and the mapping set's metrics")
    .option("--mapping <path>", "mapping set whose metrics --customers seeds (default: the shipped mappings)")
    .action(async (o: { port: string; lagoKey: string; openmeterKey: string; customers?: string; mapping?: string }) => {
      const { sandboxCommand } = await import("./commands/sandbox.js");
      await run(() => sandboxCommand(o))();
    });

  program
    .command("demo")
    .description("sync the bundled examples to a local sandbox on embedded defaults, reconcile, summarise")
    .action(async () => {
      const { demoCommand } = await import("./commands/demo.js");
      await run(demoCommand)();
    });

  return program;
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`tracebill: ${e.message}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    process.stderr.write(`tracebill: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 2;
  }
}

