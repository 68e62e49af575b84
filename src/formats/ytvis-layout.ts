/**
 * Where a YouTube-VIS split's files are. One rule for training and inference: a split is an annotation
 * JSON plus a folder of frames (`JPEGImages/<video>/<frame>`), found from
 *
 *   a root and a split name   <root>/<split>.json, <root>/<split>/instances.json or
 *                             <root>/annotations/instances_<split>.json; frames in <root>/<split>/JPEGImages
 *   an annotation JSON        frames in <dir>/<split>/JPEGImages, <dir>/JPEGImages or <dir>/../<split>/JPEGImages
 *   a split folder            <folder>/JPEGImages with <folder>/instances.json or <folder>.json
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { VidsegError } from "../core/errors.js";

export interface VisSplitPaths {
  annotationFile: string;
  imagesDir: string;
}

/** The annotation files a root may hold for `split`, in the order they are tried. */
function rootCandidates(root: string, split: string): string[] {
  return [
    join(root, `${split}.json`),
    join(root, split, "instances.json"),
    join(root, "annotations", `instances_${split}.json`),
  ];
}

/** Finds split `split` of a YouTube-VIS-layout root; a clear error when it is not there. */
export function resolveVisSplit(root: string, split: string): VisSplitPaths {
  const candidates = rootCandidates(root, split);
  const annotationFile = candidates.find((file) => existsSync(file));
  if (!annotationFile) {
    throw new VidsegError(
      `no annotation file for split "${split}" (looked for ${candidates.join(", ")})`,
      root,
    );
  }
  const imagesDir = join(root, split, "JPEGImages");
  if (!existsSync(imagesDir)) throw new VidsegError(`no frames folder for split "${split}"`, imagesDir);
  return { annotationFile, imagesDir };
}

/**
 * The split an input path stands for (a root, an annotation JSON or a split folder, see the module
 * comment), or undefined when it is none (e.g. a plain folder of frames or a video file). `images`
 * overrides the frames folder; `split` names the split of a root (default "valid", and then a root
 * without it is not a split).
 */
export function locateVisSplit(
  input: string,
  options: { split?: string; images?: string } = {},
): VisSplitPaths | undefined {
  if (!existsSync(input)) throw new VidsegError("input not found", input);
  const isDir = statSync(input).isDirectory();
  let annotationFile: string;
  let candidates: string[];
  if (!isDir && extname(input).toLowerCase() === ".json") {
    annotationFile = input;
    const dir = dirname(input);
    const split = basename(input, extname(input)).replace(/^instances_|^annotations_/, "");
    candidates = [
      join(dir, split, "JPEGImages"),
      join(dir, "JPEGImages"),
      join(dir, "..", split, "JPEGImages"),
    ];
  } else if (isDir && existsSync(join(input, "JPEGImages"))) {
    const found = [join(input, "instances.json"), `${input.replace(/[/\\]+$/, "")}.json`].find(existsSync);
    if (!found) {
      throw new VidsegError(
        "split folder has JPEGImages/ but no instances.json or <folder>.json next to it",
        input,
      );
    }
    annotationFile = found;
    candidates = [join(input, "JPEGImages")];
  } else if (isDir) {
    const split = options.split ?? "valid";
    const found = rootCandidates(input, split).find(existsSync);
    if (!found || !existsSync(join(input, split, "JPEGImages"))) {
      if (options.split !== undefined)
        throw new VidsegError(`no split "${split}" (${split}.json and ${split}/JPEGImages)`, input);
      return undefined; // a plain frame folder
    }
    annotationFile = found;
    candidates = [join(input, split, "JPEGImages")];
  } else {
    return undefined;
  }
  const imagesDir = options.images ?? candidates.find((dir) => existsSync(dir));
  if (!imagesDir)
    throw new VidsegError(
      `no frames folder found (looked for ${candidates.join(", ")}); pass --images`,
      annotationFile,
    );
  return { annotationFile, imagesDir };
}
