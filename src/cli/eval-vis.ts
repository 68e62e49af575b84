import type { Command } from "commander";

// Work in progress: its owner registers the commands here.
export function registerEvalVis(_parent: Command): void {}
