/**
 * The distillation task (OOKD): an online student trained on clips of T frames of one video (the
 * config's `distill` section, VITA-like sampling), its own per-frame loss plus λ·KD towards a frozen
 * offline teacher (src/models/distill/). The result is an online model: kind "online", the same
 * tensors as an undistilled one; the KD projection trains with it but stays out of the model file.
 *
 * Each step, the teacher (a model file, loaded once, frozen, in eval mode) runs on the same augmented
 * clip as the student. It runs when the batch is drawn, before the student's forward and outside the
 * gradient tape, so no backward pass goes through it and its outputs are constants of the step; QFA's
 * teacher-side matching is done there too. The student may start from an online model file (`init`);
 * a resumed run needs the same teacher and init again.
 *
 * Data-parallel workers each run the teacher on their share of the clips; its matcher draws from each
 * clip's own stream (seed + 2^31: the step's seeds are 31-bit, so the two streams never meet).
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../../core/errors.js";
import type { Rng } from "../../core/rng.js";
import {
  batchSum,
  childRandoms,
  seededRandoms,
  type BatchShares,
  type Randoms,
} from "../../models/batch-shares.js";
import type { DistillConfig } from "../../models/config.js";
import { KdProjection, distillationLoss, type StudentLayer } from "../../models/distill/kd-loss.js";
import { embeddingPairs, positionPairs, qfaPairs, type KdPair } from "../../models/distill/pairs.js";
import { studentClipLoss, type StudentClipLoss } from "../../models/distill/student.js";
import { disposeTeacherOutput, runTeacher, type TeacherOutput } from "../../models/distill/teacher.js";
import { disposeModelFile, readModelFile, type ModelFile, type ModelInfo } from "../../models/model-file.js";
import { instantiateModel } from "../../models/registry.js";
import type { FrameSegmenter } from "../../models/segmenter.js";
import type { OfflineVisModel } from "../../models/vis/offline.js";
import { loadTorchvisionResnet } from "../../nn/safetensors.js";
import { buildTaskModel, checkOneStart, taskModelInfo, type TaskOptions, type TrainTask } from "../task.js";
import type { SharedDataSource } from "../trainer.js";
import { VisClipData, type VisClipBatch, type VisClipPlan } from "../vis-data.js";
import { checkInitModel, clipFrameCropLoss } from "./offline.js";

/** A clip batch with the teacher's outputs on it. */
export interface DistillBatch extends VisClipBatch {
  teacher: TeacherOutput;
}

export async function createDistillTask(
  options: TaskOptions,
): Promise<TrainTask<DistillBatch, FrameSegmenter>> {
  const { seed } = options;
  if (!options.teacher)
    throw new VidsegError(
      "distillation needs a teacher (an offline model file)",
      undefined,
      "--distill-from",
    );
  checkOneStart(options);
  const teacher = await loadTeacher(options.teacher);
  let init: ModelFile | undefined;
  let model: FrameSegmenter | undefined;
  let projection: KdProjection | undefined;
  try {
    init = options.init ? await readModelFile(options.init) : undefined;
    const config = structuredClone(options.config);
    if (init) config.model = structuredClone(init.info.config.model);
    const kd = config.distill;
    const clips = await VisClipData.open({
      ...options.data,
      inputSize: config.model.inputSize,
      clipLength: kd.clipLength,
      clipsPerBatch: kd.clipsPerBatch,
      maxStride: kd.clipMaxStride,
      flipProbability: config.optim.flipProbability,
      repeatThreshold: config.optim.repeatThreshold,
      seed,
      ...(kd.fairAug.enabled ? { fairAug: kd.fairAug } : {}),
    });
    const { reader } = clips;
    if (init) checkInitModel(init, reader.categoryIds);
    checkTeacher(teacher.info, teacher.file, reader.categoryIds);
    config.model.numClasses = reader.numClasses;
    const info = taskModelInfo(
      "online",
      config,
      { categoryIds: reader.categoryIds, categoryNames: reader.categoryNames },
      options,
      init,
    );
    model = await buildTaskModel(info, seed, (model) => {
      if (init) model.loadStateDict(init.weights, { file: init.file });
      else if (options.backboneWeights) return loadTorchvisionResnet(model.backbone, options.backboneWeights);
    });
    projection = new KdProjection(config.model.hiddenDim, teacher.model.config.head.hiddenDim);
    const teacherCriterion = teacher.info.config.criterion;
    const data = new DistillData(clips, (batch) =>
      runTeacher(teacher.model, batch.images, batch.numFrames, batch.targets, {
        matcher: teacherCriterion,
        qfa:
          kd.kdFilter === "qfa"
            ? { minMaskIou: kd.qfaMinMaskIou, minClassProb: kd.qfaMinClassProb }
            : undefined,
        rng: seededRandoms(batch.seeds.map((seed) => seed + 2 ** 31)),
      }),
    );
    const student = model;
    const kdProjection = projection;
    return {
      info,
      model: student,
      data,
      backbonePrefix: "backbone.",
      trainingOnly: kdProjection,
      runConfig: { init: options.init ?? null, teacher: options.teacher },
      step: (batch, shares) => distillStep(student, kdProjection, batch, info, shares),
      dispose: () => teacher.model.dispose(),
    };
  } catch (error) {
    teacher.model.dispose();
    model?.dispose();
    projection?.dispose();
    throw error;
  } finally {
    if (init) disposeModelFile(init);
  }
}

/**
 * One step: the student's clip loss (+ crop loss) + λ·KD on a batch or a share of one (`shares`); the
 * log gets the KD term and pair counts.
 */
function distillStep(
  model: FrameSegmenter,
  projection: KdProjection,
  batch: DistillBatch,
  info: ModelInfo,
  shares: BatchShares,
): { loss: tf.Scalar; metrics: Record<string, tf.Scalar | number> } {
  const { criterion, distill: kd } = info.config;
  // One stream per clip; the frames' streams are drawn from it first, the crop frame's after.
  const rng: Randoms = seededRandoms(batch.seeds);
  const frameRng = childRandoms(rng, batch.seeds.length, batch.numFrames);
  const student = studentClipLoss(
    model,
    batch.images,
    batch.numFrames,
    batch.targets,
    criterion,
    frameRng,
    shares,
  );
  const metrics: Record<string, tf.Scalar | number> = {};
  for (const name of ["loss_ce", "loss_mask", "loss_dice", "loss_contrastive"])
    if (student.terms[name]) metrics[name] = student.terms[name];
  const parts: tf.Scalar[] = [student.loss];
  if (model.cropClassifier) {
    const crop = clipFrameCropLoss(model.cropClassifier, batch, criterion.cropsPerInstance, rng, shares);
    if (crop) {
      metrics.loss_crop = crop;
      parts.push(tf.mul(crop, criterion.cropWeight) as tf.Scalar);
    }
  }
  const layers = studentLayers(student, batch, projection, kd);
  const distillation = distillationLoss(layers, batch.teacher, projection, {
    loss: kd.kdLoss,
    classKlTemperature: kd.kdClassKl,
    batchTotals: (counts) => batchSum(shares, counts),
  });
  parts.push(tf.mul(distillation.loss, kd.kdWeight) as tf.Scalar);
  metrics.loss_kd = distillation.loss;
  if (distillation.classKl) metrics.loss_kd_class = distillation.classKl;
  metrics.kd_pairs = distillation.pairs;
  if (batch.teacher.queryOfTrack)
    metrics.kd_teacher_queries = batch.teacher.queryOfTrack.flat().filter((q) => q >= 0).length;
  return { loss: tf.addN(parts) as tf.Scalar, metrics };
}

/**
 * The student layers that are distilled and their pairs: the last decoder layer, or every decoder
 * layer ("all": the earlier layers' outputs, not the prediction from the learned queries alone, which
 * sees no image), each paired with its own matching.
 */
export function studentLayers(
  student: StudentClipLoss,
  batch: DistillBatch,
  projection: KdProjection,
  kd: DistillConfig,
): StudentLayer[] {
  const { output } = student;
  const last = {
    queryFeatures: output.queryFeatures,
    predLogits: output.predLogits,
    matches: student.matches,
  };
  const layers =
    kd.kdLayers === "all"
      ? [
          ...output.aux.slice(1).map((aux, i) => ({
            queryFeatures: aux.queryFeatures,
            predLogits: aux.predLogits,
            matches: student.auxMatches[i + 1] ?? [],
          })),
          last,
        ]
      : [last];
  const [images, numQueries] = output.predLogits.shape;
  const [, numVideoQueries] = batch.teacher.videoQueries.shape;
  return layers.map(({ queryFeatures, predLogits, matches }) => {
    let pairs: KdPair[];
    if (kd.kdFilter === "qfa") pairs = qfaPairs(matches, batch.numFrames, batch.teacher.queryOfTrack!);
    else if (kd.kdFilter === "position")
      pairs = positionPairs(images, batch.numFrames, numQueries, numVideoQueries);
    else {
      const projected = tf.tidy(() => projection.forward(queryFeatures) as tf.Tensor3D);
      pairs = embeddingPairs(projected, batch.teacher.videoQueries, batch.numFrames, kd.kdLoss);
      projected.dispose();
    }
    return { queryFeatures, predLogits, pairs };
  });
}

/** The clips with the teacher run on each batch, or share of one (see the module comment). */
class DistillData implements SharedDataSource<DistillBatch, VisClipPlan> {
  constructor(
    readonly clips: VisClipData,
    private readonly runTeacherOn: (batch: VisClipBatch) => TeacherOutput,
  ) {}

  get unitsPerBatch(): number {
    return this.clips.unitsPerBatch;
  }

  async next(rng: Rng): Promise<DistillBatch> {
    return this.load(this.draw(rng));
  }

  draw(rng: Rng): VisClipPlan {
    return this.clips.draw(rng);
  }

  share(plan: VisClipPlan, count: number): VisClipPlan[] {
    return this.clips.share(plan, count);
  }

  async load(plan: VisClipPlan): Promise<DistillBatch> {
    const batch = await this.clips.load(plan);
    try {
      return { ...batch, teacher: this.runTeacherOn(batch) };
    } catch (error) {
      this.clips.release(batch);
      throw error;
    }
  }

  getState(): unknown {
    return this.clips.getState();
  }

  setState(state: unknown): void {
    this.clips.setState(state);
  }

  release(batch: DistillBatch): void {
    this.clips.release(batch);
    disposeTeacherOutput(batch.teacher);
  }
}

/** The teacher model file: an offline model, frozen, in eval mode. */
async function loadTeacher(file: string): Promise<{ model: OfflineVisModel; info: ModelInfo; file: string }> {
  const teacherFile = await readModelFile(file);
  try {
    const model = instantiateModel(teacherFile, "offline");
    model.setTrainable(false);
    return { model, info: teacherFile.info, file: teacherFile.file };
  } finally {
    disposeModelFile(teacherFile);
  }
}

/** The teacher must know the training data's categories, in the same order. */
function checkTeacher(info: ModelInfo, file: string, categoryIds: number[]): void {
  if (info.categoryIds.join(",") !== categoryIds.join(",")) {
    throw new VidsegError(
      `the teacher's categories [${info.categoryIds}] are not the training data's [${categoryIds}]`,
      file,
      "__metadata__.info.categoryIds",
    );
  }
}
