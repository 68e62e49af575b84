/**
 * A shard thread of `evaluateYtvisFiles`: runs the shard jobs it is sent (checking, decoding and
 * intersecting masks) and answers with their outputs.
 */
import { parentPort } from "node:worker_threads";
import { VidsegError } from "../core/errors.js";
import type { ShardReply } from "./ytvis-files.js";
import { runShard, type ShardJob } from "./ytvis-shard.js";

parentPort!.on("message", (job: ShardJob) => {
  let reply: ShardReply;
  try {
    reply = { output: runShard(job) };
  } catch (error) {
    if (!(error instanceof VidsegError)) throw error;
    reply = { error: error.message };
  }
  // The output's buffers move to the main thread instead of being copied.
  const transfer = "output" in reply ? [reply.output.ious.buffer, reply.output.dtAreas.buffer] : [];
  parentPort!.postMessage(reply, transfer as ArrayBuffer[]);
});
