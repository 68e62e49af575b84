/**
 * Reading the graph-model files shipped in the package's `weights/backbones/<name>/` folder (never the
 * network), checked against their pinned SHA-256, so a model file that names a backbone always gets
 * the very weights it was trained with.
 *
 * Synchronous, because models are built synchronously from their config. Node's modules are taken
 * with `process.getBuiltinModule` (Node ≥ 20.16) rather than imported, so that the browser entry
 * (src/web.ts) reaches no node:* module; a browser passes the files' bytes to
 * `registerPretrainedBackbone` (src/nn/backbone.ts) instead.
 */
import type * as NodeCrypto from "node:crypto";
import type * as NodeFs from "node:fs";
import type * as NodeUrl from "node:url";
import { VidsegError } from "../core/errors.js";
import type { GraphModelFiles } from "./centernet-backbone.js";

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
  const getBuiltin = typeof process === "undefined" ? undefined : process.getBuiltinModule;
  if (getBuiltin === undefined) {
    throw new VidsegError(
      `the pretrained backbone "${folder}" is not loaded: pass its files to registerPretrainedBackbone ` +
        "(reading them from the package needs Node ≥ 20.16)",
    );
  }
  const fs = getBuiltin("node:fs") as typeof NodeFs;
  const crypto = getBuiltin("node:crypto") as typeof NodeCrypto;
  const url = getBuiltin("node:url") as typeof NodeUrl;
  const pathOf = (file: PinnedFile) => url.fileURLToPath(new URL(`${folder}/${file.name}`, BACKBONES_DIR));
  const read = (file: PinnedFile): Uint8Array => {
    const path = pathOf(file);
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(path);
    } catch {
      throw new VidsegError("pretrained backbone file missing (it ships with the package)", path);
    }
    const digest = crypto.createHash("sha256").update(bytes).digest("hex");
    if (digest !== file.sha256) {
      throw new VidsegError(`SHA-256 ${digest} differs from the pinned ${file.sha256}`, path);
    }
    return bytes;
  };
  return { modelJson: read(files.model), weights: read(files.weights), source: pathOf(files.model) };
}
