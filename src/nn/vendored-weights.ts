/**
 * Node side of the pretrained backbones: reads the graph-model files shipped in the package's
 * `weights/backbones/<name>/` folder (never the network) and checks their SHA-256 against the pinned
 * values, so a model file that names a backbone always gets the very weights it was trained with.
 * A browser build passes the bytes to loadCenternetGraph itself instead.
 */
import { VidsegError } from "../core/errors.js";
import type { GraphModelFiles } from "./centernet-backbone.js";

/**
 * Node's modules, fetched synchronously without a static import (Node ≥ 20.16), so that the browser
 * entry's import graph holds none of them; elsewhere the backbone's bytes must be passed in.
 */
function nodeModule<T>(name: string): T {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  if (!get)
    throw new VidsegError(`the shipped pretrained backbone is read with Node's ${name} (Node ≥ 20.16)`);
  return get(name) as T;
}

/** `weights/backbones/` of the package (this file is src/nn/*.ts or dist/nn/*.js). */
const BACKBONES_DIR = new URL("../../weights/backbones/", import.meta.url);

interface PinnedFile {
  name: string;
  sha256: string;
}

/** Reads `weights/backbones/<folder>/` model and weights files and verifies their hashes. */
export function readVendoredGraphModel(
  folder: string,
  files: { model: PinnedFile; weights: PinnedFile },
): GraphModelFiles {
  const { createHash } = nodeModule<typeof import("node:crypto")>("node:crypto");
  const { readFileSync } = nodeModule<typeof import("node:fs")>("node:fs");
  const { fileURLToPath } = nodeModule<typeof import("node:url")>("node:url");
  const read = (file: PinnedFile): Uint8Array => {
    const path = fileURLToPath(new URL(`${folder}/${file.name}`, BACKBONES_DIR));
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new VidsegError("pretrained backbone file missing (it ships with the package)", path);
    }
    const digest = createHash("sha256").update(bytes).digest("hex");
    if (digest !== file.sha256) {
      throw new VidsegError(`SHA-256 ${digest} differs from the pinned ${file.sha256}`, path);
    }
    return bytes;
  };
  return {
    modelJson: read(files.model),
    weights: read(files.weights),
    source: fileURLToPath(new URL(`${folder}/${files.model.name}`, BACKBONES_DIR)),
  };
}
