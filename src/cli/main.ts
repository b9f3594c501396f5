#!/usr/bin/env node
import { main } from "./program.js";

// `tracebill preview … | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

await main();
