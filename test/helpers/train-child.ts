/**
 * A training run as a child process for the kill test: `vidseg train vis --resume` without the CLI's
 * imports (only the train job), so that each of the many restarts is quick. Arguments: data root, run
 * folder, steps. Exit code 0 when the run completed.
 */
import { trainVis } from "../../src/jobs/train-vis.js";

const [data, out, steps] = process.argv.slice(2);
await trainVis({
  data,
  out,
  config: "tiny",
  steps: Number(steps),
  checkpointEvery: 1,
  resume: true,
  progress: false,
});
