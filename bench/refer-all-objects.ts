/**
 * The referring benchmarks' baseline without a model: every expression answered by the union of all
 * objects of its video in every frame. It is what ignoring the sentence can reach, and on the synthetic
 * benchmark (2–3 objects a video) it is a high bar: a model must pick the right object in about half the
 * frames to beat it (BENCHMARKS.md "Does the model read the sentence?").
 */
import { readObjectMasks, writeExpressionMask, type RefMetaExpressions } from "../src/formats/refytvos.js";

/** Writes, for every expression of `meta`, the union of its video's object masks (split `splitRoot`). */
export async function writeAllObjectsMasks(
  splitRoot: string,
  meta: RefMetaExpressions,
  out: string,
): Promise<void> {
  for (const [video, entry] of Object.entries(meta.videos)) {
    if (Object.keys(entry.expressions).length === 0) continue;
    const masks = await readObjectMasks(splitRoot, video, entry.frames);
    for (const [t, frame] of entry.frames.entries()) {
      const union = {
        width: masks[t].width,
        height: masks[t].height,
        data: masks[t].data.map((v) => (v > 0 ? 1 : 0)),
      };
      for (const id of Object.keys(entry.expressions))
        await writeExpressionMask(out, video, id, frame, union);
    }
  }
}
