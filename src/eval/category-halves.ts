/**
 * AP on the rare half and on the frequent half of the categories, the train split deciding which is
 * which (a long-tailed train split is where class-fair augmentation should help).
 *
 * The rule: a category's frequency is its number of (non-crowd) tracks in the TRAIN annotations. The
 * evaluated categories are sorted by that number, ascending, ties by ascending category id; the first
 * ⌊K/2⌋ are the rare half, the others the frequent half (with K odd, the median category is frequent).
 * A category absent from the train split has frequency 0. A half's AP is the mean of its categories'
 * APs, leaving out those without GT in the evaluated split (AP -1, as the official mean does), and -1
 * when none is left: over all categories this mean is the official AP (up to rounding).
 */
import type { YtvisDataset } from "../formats/ytvis.js";
import { numpyMean } from "../math/numpy.js";
import type { CategoryAp } from "./ytvis.js";

export interface CategoryHalf {
  /** Category ids, in the rule's order (rarest first). */
  categoryIds: number[];
  /** Their train track counts, in the same order. */
  trainTracks: number[];
  /** Mean of their APs (categories without GT left out); -1 when none has GT. */
  AP: number;
  AP50: number;
  AP75: number;
}

export interface CategoryHalves {
  rare: CategoryHalf;
  frequent: CategoryHalf;
}

/** Non-crowd tracks per category id in a (train) annotation set. */
export function trackCounts(train: YtvisDataset): Map<number, number> {
  const counts = new Map<number, number>(train.categories.map((c) => [c.id, 0]));
  for (const annotation of train.annotations)
    if (!annotation.iscrowd)
      counts.set(annotation.category_id, (counts.get(annotation.category_id) ?? 0) + 1);
  return counts;
}

/** The two halves of the evaluated categories (`perCategory`, from the evaluator) and their APs. */
export function categoryHalves(
  perCategory: readonly CategoryAp[],
  trainCounts: ReadonlyMap<number, number>,
): CategoryHalves {
  const count = (c: CategoryAp) => trainCounts.get(c.id) ?? 0;
  const sorted = [...perCategory].sort((a, b) => count(a) - count(b) || a.id - b.id);
  const cut = Math.floor(sorted.length / 2);
  const half = (categories: readonly CategoryAp[]): CategoryHalf => {
    const mean = (field: "AP" | "AP50" | "AP75") => {
      const values = categories.map((c) => c[field]).filter((v) => v > -1);
      return values.length === 0 ? -1 : numpyMean(values);
    };
    return {
      categoryIds: categories.map((c) => c.id),
      trainTracks: categories.map(count),
      AP: mean("AP"),
      AP50: mean("AP50"),
      AP75: mean("AP75"),
    };
  };
  return { rare: half(sorted.slice(0, cut)), frequent: half(sorted.slice(cut)) };
}

/** The halves in two lines, e.g. `AP rare half     0.123  (4 categories, 2–9 train tracks)`. */
export function categoryHalvesLines(halves: CategoryHalves): string[] {
  const line = (name: string, half: CategoryHalf) => {
    const range =
      half.trainTracks.length === 0
        ? "none"
        : `${half.trainTracks[0]}–${half.trainTracks[half.trainTracks.length - 1]} train tracks`;
    return `AP ${name.padEnd(13)} ${half.AP.toFixed(3)}  (${half.categoryIds.length} categories, ${range})`;
  };
  return [line("rare half", halves.rare), line("frequent half", halves.frequent)];
}
