import { VidsegError } from "../core/errors.js";

/**
 * A learning-rate schedule: the learning rate for the update with 0-based index `step` (step 0 is the
 * first update). Pure functions of the step, so a resumed run needs no schedule state.
 */
export type Schedule = (step: number) => number;

/** The same learning rate throughout. */
export function constantLr(lr: number): Schedule {
  checkLr(lr, "lr");
  return () => lr;
}

/** `lr · gamma^k`, where k is the number of milestones ≤ step (torch MultiStepLR). */
export function stepLr(options: { lr: number; milestones: number[]; gamma?: number }): Schedule {
  const { lr, milestones } = options;
  const gamma = options.gamma ?? 0.1;
  checkLr(lr, "lr");
  checkLr(gamma, "gamma");
  milestones.forEach((m, i) => {
    if (!Number.isInteger(m) || m < 0 || (i > 0 && m <= milestones[i - 1])) {
      throw new VidsegError(`milestones must be increasing non-negative integers, got [${milestones}]`);
    }
  });
  return (step) => lr * gamma ** milestones.filter((m) => m <= step).length;
}

/** Cosine annealing from `lr` at step 0 to `minLr` at `totalSteps` (and after). */
export function cosineLr(options: { lr: number; totalSteps: number; minLr?: number }): Schedule {
  const { lr, totalSteps } = options;
  const minLr = options.minLr ?? 0;
  checkLr(lr, "lr");
  checkLr(minLr, "minLr");
  checkSteps(totalSteps, "totalSteps");
  return (step) => {
    const t = Math.min(Math.max(step, 0), totalSteps) / totalSteps;
    return minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * t));
  };
}

/** Polynomial decay `lr · (1 − step/totalSteps)^power` (detectron2 / Mask2Former "poly", power 0.9). */
export function polyLr(options: { lr: number; totalSteps: number; power?: number }): Schedule {
  const { lr, totalSteps } = options;
  const power = options.power ?? 0.9;
  checkLr(lr, "lr");
  checkSteps(totalSteps, "totalSteps");
  return (step) => lr * (1 - Math.min(Math.max(step, 0), totalSteps) / totalSteps) ** power;
}

/**
 * Linear warmup in front of any schedule: for step < `steps` the inner schedule's value is multiplied
 * by a factor rising linearly from `startFactor` (at step 0) to 1 (at step `steps`); afterwards the inner
 * schedule is used unchanged. The inner schedule is not shifted (detectron2's WarmupParamScheduler), so
 * step/cosine milestones keep their meaning.
 */
export function withWarmup(inner: Schedule, options: { steps: number; startFactor?: number }): Schedule {
  const { steps } = options;
  const startFactor = options.startFactor ?? 0.001;
  if (!Number.isInteger(steps) || steps < 0) {
    throw new VidsegError(`warmup steps must be a non-negative integer, got ${steps}`);
  }
  checkLr(startFactor, "startFactor");
  return (step) => {
    if (step >= steps) return inner(step);
    const alpha = step / steps;
    return inner(step) * (startFactor * (1 - alpha) + alpha);
  };
}

/** A schedule as written in a JSON training config. */
export interface ScheduleConfig {
  name: "constant" | "step" | "cosine" | "poly";
  lr: number;
  /** step: the milestones and decay factor. */
  milestones?: number[];
  gamma?: number;
  /** cosine / poly: the horizon; defaults to the run's total steps. */
  totalSteps?: number;
  minLr?: number;
  power?: number;
  /** Optional linear warmup. */
  warmupSteps?: number;
  warmupStartFactor?: number;
}

/** Builds a schedule from its config form; `file` names the config in error messages. */
export function scheduleFromConfig(config: ScheduleConfig, runTotalSteps: number, file?: string): Schedule {
  const where = (field: string) => `schedule.${field}`;
  if (typeof config.lr !== "number") throw new VidsegError("lr must be a number", file, where("lr"));
  const totalSteps = config.totalSteps ?? runTotalSteps;
  let schedule: Schedule;
  try {
    switch (config.name) {
      case "constant":
        schedule = constantLr(config.lr);
        break;
      case "step":
        schedule = stepLr({ lr: config.lr, milestones: config.milestones ?? [], gamma: config.gamma });
        break;
      case "cosine":
        schedule = cosineLr({ lr: config.lr, totalSteps, minLr: config.minLr });
        break;
      case "poly":
        schedule = polyLr({ lr: config.lr, totalSteps, power: config.power });
        break;
      default:
        throw new VidsegError(
          `unknown schedule "${String(config.name)}" (expected constant, step, cosine or poly)`,
          file,
          where("name"),
        );
    }
    if (config.warmupSteps) {
      schedule = withWarmup(schedule, { steps: config.warmupSteps, startFactor: config.warmupStartFactor });
    }
  } catch (error) {
    if (error instanceof VidsegError && error.file === undefined && file !== undefined) {
      throw new VidsegError(error.message, file, "schedule");
    }
    throw error;
  }
  return schedule;
}

function checkLr(value: number, name: string): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new VidsegError(`${name} must be a finite non-negative number, got ${value}`);
  }
}

function checkSteps(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1)
    throw new VidsegError(`${name} must be a positive integer, got ${value}`);
}
