import { existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { loadMappingSet } from "../mapping/index.js";
import { mapInputs } from "../pipeline/map-inputs.js";
import { packageRoot } from "../runtime/paths.js";
import { startRedisServer } from "../runtime/redis-server.js";
import { RedisContextStore } from "../sources/redis-context.js";
import { generateLangSmithExport } from "./generate.js";

/**
 * Memory check for issue 3: streams a multi-GB export through read → normalize → join (Redis
 * context store, as the worker does) → map, counting events, and prints the peak RSS.
 * Usage: node dist/bench/memory.js [--gb 2] [--file PATH]
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const gb = Number(args[args.indexOf("--gb") + 1] ?? 2) || 2;
  const file = args.includes("--file") ? args[args.indexOf("--file") + 1]! : join(tmpdir(), `tracebill-mem-${gb}gb.jsonl`);
  if (!existsSync(file)) {
    console.log(`generating ${gb} GB of LangSmith runs at ${file} …`);
    const g = await generateLangSmithExport(file, gb * 1024 ** 3);
    console.log(`  ${g.records.toLocaleString("en-US")} runs, ${(g.bytes / 1024 ** 3).toFixed(2)} GiB`);
  }
  const redisProc = process.env.REDIS_URL ? undefined : await startRedisServer();
  const redis = new Redis(process.env.REDIS_URL ?? redisProc!.url);
  try {
    const store = new RedisContextStore(redis, { prefix: `tracebill-mem-${Date.now()}`, ttlSeconds: 3600, parkSeconds: 3600 });
    const mappings = await loadMappingSet(join(packageRoot(), "mappings"));
    const started = Date.now();
    let events = 0;
    let value = 0;
    let sampledPeak = 0;
    for await (const item of mapInputs([file], mappings, { store })) {
      if (item.kind !== "event") continue;
      events++;
      value += item.event.value;
      if ((events & 0xffff) === 0) sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
    }
    const seconds = (Date.now() - started) / 1000;
    const peakMb = Math.max(process.resourceUsage().maxRSS / 1024, sampledPeak / 1024 ** 2);
    const size = statSync(file).size / 1024 ** 3;
    console.log(`file ${size.toFixed(2)} GiB · ${events.toLocaleString("en-US")} events · ${value.toLocaleString("en-US")} tokens · ${seconds.toFixed(1)} s`);
    console.log(`peak RSS ${peakMb.toFixed(0)} MB (goal < 256 MB)`);
  } finally {
    await redis.quit();
    await redisProc?.stop();
  }
}

await main();
