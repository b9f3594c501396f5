export { startStandin, type Fault, type LoggedRequest, type Standin, type StandinOptions } from "./server.js";
export { startLangfuseStandin, type LangfuseStandin, type LangfuseStandinOptions } from "./langfuse.js";
export { asV1Run, startLangSmithStandin, parseFilter, type LangSmithProject, type LangSmithStandin, type LangSmithStandinOptions } from "./langsmith.js";
export { exampleSeed, readSeedFile } from "./seed.js";
export { startExampleStandins, type ExampleStandins } from "./examples.js";
