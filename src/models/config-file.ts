/** Reading config files (Node): a preset name or a JSON file resolved by src/models/config.ts. */
import { readJson } from "../core/fs.js";
import { PRESET_NAMES, presetConfig, resolveVisConfig, type PresetName, type VisConfig } from "./config.js";

/**
 * A preset name, or a JSON file `{"preset": "cpu-small", "model": {...}, "criterion": {...}, ...}` whose
 * sections override the preset's fields (default preset: cpu-small).
 */
export async function loadVisConfig(nameOrFile: string): Promise<VisConfig> {
  if ((PRESET_NAMES as readonly string[]).includes(nameOrFile)) return presetConfig(nameOrFile as PresetName);
  return resolveVisConfig(await readJson(nameOrFile), nameOrFile);
}
