/**
 * The one-time notice that a model trained only on synthetic data is segmenting something else: the
 * streaming segmenters give it on their first frame, `vidseg infer vis` once per run.
 */
import type { TrainedOn } from "../models/model-file.js";

/** The notice for a model trained on `trainedOn`, whose `outputs` (e.g. "masks") then mean little. */
export function syntheticModelNotice(trainedOn: TrainedOn, outputs: string): string {
  return `this model was trained only on synthetic data (${trainedOn.data}); on real footage its ${outputs} are not meaningful`;
}

/** Gives a notice to `onWarning`, else as a Node process warning, else on the console (a browser). */
export function giveNotice(message: string, onWarning?: (message: string) => void): void {
  if (onWarning) onWarning(message);
  else if (typeof process !== "undefined" && typeof process.emitWarning === "function")
    process.emitWarning(message, "VidsegWarning");
  else console.warn(message);
}
