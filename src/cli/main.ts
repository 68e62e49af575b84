#!/usr/bin/env node
import { Command } from "commander";
import { registerBatch } from "./batch.js";
import { registerEvalDavis } from "./eval-davis.js";
import { registerEvalVis } from "./eval-vis.js";
import { registerExport } from "./export.js";
import { registerInfer } from "./infer.js";
import { registerSynth } from "./synth.js";
import { registerTrain } from "./train.js";
import { registerTune } from "./tune.js";

export function buildProgram(): Command {
  const program = new Command("vidseg")
    .description("Video segmentation toolkit: datasets, evaluation, models, training and inference")
    .version("0.1.0")
    .showHelpAfterError();
  const evaluate = program.command("eval").description("evaluate predictions as the official evaluators do");
  registerEvalVis(evaluate);
  registerEvalDavis(evaluate);
  registerSynth(program);
  registerTrain(program);
  registerInfer(program);
  registerTune(program);
  registerBatch(program);
  registerExport(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
