/**
 * A shard thread of `evaluateYtvisFiles`: reads both files, checks and measures the masks of its shard's
 * videos, computes their groups' IoUs and sends them back (the main thread checks the files' structure).
 */
import { parentPort, workerData } from "node:worker_threads";
import { VidsegError } from "../core/errors.js";
import { readJson } from "../core/fs.js";
import { validateYtvis, type YtvisResult } from "../formats/ytvis.js";
import type { ShardJob, ShardReply } from "./ytvis-files.js";
import { evaluateShard, type ShardOutput } from "./ytvis.js";

const { gtFile, resultsFile, occlusion, shard, shards } = workerData as ShardJob;
let reply: ShardReply;
try {
  const [gtJson, resultsJson] = await Promise.all([readJson(gtFile), readJson(resultsFile)]);
  const gt = validateYtvis(gtJson, gtFile, { masks: false });
  const output = evaluateShard(
    gt,
    resultsJson as YtvisResult[],
    { occlusion, gtFile, resultsFile, checkMasks: true },
    shard,
    shards,
  );
  reply = { output };
} catch (error) {
  if (!(error instanceof VidsegError)) throw error;
  reply = { error: error.message };
}
// The output's buffers move to the main thread instead of being copied.
const { dtAreas, groups, offsets, ious } = "output" in reply ? reply.output : ({} as Partial<ShardOutput>);
const transfer = [dtAreas, groups, offsets, ious].flatMap((array) =>
  array ? [array.buffer as ArrayBuffer] : [],
);
parentPort!.postMessage(reply, transfer);
