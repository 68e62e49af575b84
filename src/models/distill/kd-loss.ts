/**
 * The distillation loss on query pairs (src/models/distill/pairs.ts): between the student's projected
 * query and the teacher's detached video query, the mean squared difference (over pairs and channels)
 * or 1 − cos (mean over pairs); optionally Hinton's KL on the class distributions at temperature T,
 * T²·KL(softmax(teacher/T) ‖ softmax(student/T)), mean over pairs. With several student decoder layers,
 * each layer's term is computed on its own pairs and the layers (those with pairs) are averaged, so
 * that λ means the same for "last" and "all". Written as sums over pairs divided by the batch's counts,
 * so that shares of a batch (data-parallel training) add up to the batch's loss.
 *
 * The projection ({@link KdProjection}) maps the student's query width to the teacher's. It trains with
 * the student but is not part of it: the student's model file never holds it.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../../core/errors.js";
import { Linear } from "../../nn/layers.js";
import { Module } from "../../nn/module.js";
import { tidyObject } from "../vis/offline.js";
import type { KdPair } from "./pairs.js";

/** A learned linear map from the student's queries [.., Ds] to the teacher's width [.., Dt]. */
export class KdProjection extends Module {
  readonly proj: Linear;

  constructor(studentDim: number, teacherDim: number) {
    super();
    this.proj = this.addModule("proj", new Linear(studentDim, teacherDim));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.proj.forward(x);
  }
}

/** Per pair [P]: the MSE (mean over channels) or 1 − cos between the rows of [P, D] tensors. */
export function kdFeatureDistance(
  student: tf.Tensor2D,
  teacher: tf.Tensor2D,
  loss: "mse" | "cosine",
): tf.Tensor1D {
  if (!tf.util.arraysEqual(student.shape, teacher.shape))
    throw new VidsegError(`KD loss: student [${student.shape}] and teacher [${teacher.shape}] differ`);
  return tf.tidy(() => {
    if (loss === "mse") return tf.mean(tf.square(tf.sub(student, teacher)), -1) as tf.Tensor1D;
    const dot = tf.sum(tf.mul(student, teacher), -1);
    const norms = tf.mul(tf.norm(student, "euclidean", -1), tf.norm(teacher, "euclidean", -1));
    return tf.sub(1, tf.div(dot, tf.maximum(norms, 1e-12))) as tf.Tensor1D;
  });
}

/** Per row [P]: T²·KL(softmax(teacher/T) ‖ softmax(student/T)), summed over the classes. */
export function kdClassKl(
  studentLogits: tf.Tensor2D,
  teacherLogits: tf.Tensor2D,
  temperature: number,
): tf.Tensor1D {
  if (!tf.util.arraysEqual(studentLogits.shape, teacherLogits.shape)) {
    throw new VidsegError(
      `KD class KL: student logits [${studentLogits.shape}] and teacher logits [${teacherLogits.shape}] differ`,
    );
  }
  if (!(temperature > 0)) throw new VidsegError(`KD class KL: temperature must be > 0, got ${temperature}`);
  return tf.tidy(() => {
    const logQ = tf.logSoftmax(tf.div(teacherLogits, temperature), -1);
    const logP = tf.logSoftmax(tf.div(studentLogits, temperature), -1);
    const kl = tf.sum(tf.mul(tf.exp(logQ), tf.sub(logQ, logP)), -1);
    return tf.mul(kl, temperature * temperature) as tf.Tensor1D;
  });
}

/** One student decoder layer: its queries and class logits of the B·T images, and its pairs. */
export interface StudentLayer {
  /** [B·T, N, Ds] */
  queryFeatures: tf.Tensor3D;
  /** [B·T, N, K+1] */
  predLogits: tf.Tensor3D;
  pairs: readonly KdPair[];
}

/**
 * The teacher's outputs the loss reads. They depend on no student parameter (the frozen teacher runs
 * on the clip), so no gradient reaches the teacher: they are the detached targets.
 */
export interface TeacherQueries {
  /** [B, Nv, Dt] */
  videoQueries: tf.Tensor3D;
  /** [B, Nv, K+1] */
  predLogits: tf.Tensor3D;
}

export interface DistillationLossOptions {
  loss: "mse" | "cosine";
  /** Temperature of the class KL; 0 = none. */
  classKlTemperature: number;
  /**
   * The whole batch's totals of per-layer pair counts, when these layers see a share of the batch
   * (data-parallel training): the means are then the batch's, so that the shares' losses add up.
   * Default: this is the whole batch.
   */
  batchTotals?: (counts: number[]) => number[];
}

/** What {@link distillationLoss} computes. */
export interface DistillationLoss {
  /** Feature term + class KL, averaged over the layers with pairs (0 without any pair). */
  loss: tf.Scalar;
  /** The feature term alone (same averaging). */
  feature: tf.Scalar;
  /** The class KL alone, when on. */
  classKl?: tf.Scalar;
  /** Pairs over all layers. */
  pairs: number;
}

/** The KD loss over the student's layers; see the module comment. */
export function distillationLoss(
  layers: readonly StudentLayer[],
  teacher: TeacherQueries,
  projection: KdProjection,
  options: DistillationLossOptions,
): DistillationLoss {
  const [clips, numVideoQueries, teacherDim] = teacher.videoQueries.shape;
  const counts = layers.map((layer) => layer.pairs.length);
  const totals = options.batchTotals?.(counts) ?? counts;
  const layersWithPairs = totals.filter((total) => total > 0).length;
  const pairs = counts.reduce((a, b) => a + b, 0);
  const withClassKl = options.classKlTemperature > 0;
  if (pairs === 0) {
    return {
      loss: tf.scalar(0),
      feature: tf.scalar(0),
      ...(withClassKl ? { classKl: tf.scalar(0) } : {}),
      pairs,
    };
  }
  const result = tidyObject(() => {
    const teacherQueries = teacher.videoQueries.reshape([clips * numVideoQueries, teacherDim]);
    const teacherLogits = teacher.predLogits.reshape([clips * numVideoQueries, -1]);
    const features: tf.Scalar[] = [];
    const kls: tf.Scalar[] = [];
    layers.forEach(({ queryFeatures, predLogits, pairs: layerPairs }, l) => {
      if (layerPairs.length === 0) return;
      const [images, numQueries, studentDim] = queryFeatures.shape;
      if (images !== predLogits.shape[0])
        throw new VidsegError("KD loss: queries and logits of different images");
      for (const p of layerPairs) {
        if (
          p.image >= images ||
          p.studentQuery >= numQueries ||
          p.clip >= clips ||
          p.teacherQuery >= numVideoQueries
        )
          throw new VidsegError(`KD loss: pair ${JSON.stringify(p)} outside the outputs`);
      }
      const studentRows = layerPairs.map((p) => p.image * numQueries + p.studentQuery);
      const teacherRows = layerPairs.map((p) => p.clip * numVideoQueries + p.teacherQuery);
      // A layer's mean over the batch's pairs, its share of the mean over the layers with pairs.
      const weight = 1 / (totals[l] * layersWithPairs);
      const student = tf.gather(queryFeatures.reshape([images * numQueries, studentDim]), studentRows);
      const distances = kdFeatureDistance(
        projection.forward(student) as tf.Tensor2D,
        tf.gather(teacherQueries, teacherRows) as tf.Tensor2D,
        options.loss,
      );
      features.push(tf.mul(tf.sum(distances), weight) as tf.Scalar);
      if (withClassKl) {
        const kl = kdClassKl(
          tf.gather(predLogits.reshape([images * numQueries, -1]), studentRows) as tf.Tensor2D,
          tf.gather(teacherLogits, teacherRows) as tf.Tensor2D,
          options.classKlTemperature,
        );
        kls.push(tf.mul(tf.sum(kl), weight) as tf.Scalar);
      }
    });
    const feature = tf.addN(features) as tf.Scalar;
    const classKl = kls.length > 0 ? (tf.addN(kls) as tf.Scalar) : undefined;
    const loss = classKl ? (tf.add(feature, classKl) as tf.Scalar) : tf.clone(feature);
    return classKl ? { loss, feature, classKl } : { loss, feature };
  });
  return { ...result, pairs };
}
