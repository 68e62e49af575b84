/**
 * Deterministic parameter initialisation.
 *
 * Every parameter created by a module draws its own seed from one sequence, so building the same model
 * after `seedParameters(s)` gives the same weights (on every backend: tfjs generates random values in
 * JavaScript). Initialisers follow PyTorch's defaults so that training behaves like the reference.
 */
import * as tf from "@tensorflow/tfjs";

let nextParameterSeed = 0;

/** Restarts the seed sequence used by all parameter initialisers. */
export function seedParameters(seed: number): void {
  nextParameterSeed = Math.floor(seed) * 100_003;
}

/**
 * The next parameter's seed, as tfjs must be given it. tfjs's normal generator treats a falsy seed as
 * no seed at all (`seed ? seed : Math.random()`), so seed 0, the first of the default sequence, gave
 * fresh random weights in every run. Both of its generators seed alea with the seed's string form, so
 * passing that string keeps every other seed's values and makes 0 a seed like the others.
 */
function drawSeed(): number {
  return String(nextParameterSeed++) as unknown as number;
}

/** Uniform values in [-bound, bound]. */
export function uniform(shape: number[], bound: number): tf.Tensor {
  return tf.randomUniform(shape, -bound, bound, "float32", drawSeed());
}

/** Normal values with the given standard deviation. */
export function normal(shape: number[], std: number): tf.Tensor {
  // tf.randomNormal takes a seed of 0 (falsy) for "no seed" and draws from Math.random: 0 gets a stand-in.
  const seed = drawSeed();
  return tf.randomNormal(shape, 0, std, "float32", seed === 0 ? -1 : seed);
}

/** PyTorch's default for Linear/Conv weights: kaiming_uniform(a=√5), i.e. U(±1/√fanIn). */
export function torchDefaultWeight(shape: number[], fanIn: number): tf.Tensor {
  return uniform(shape, 1 / Math.sqrt(fanIn));
}

/** Kaiming normal, fan_out, ReLU gain (torchvision ResNet conv init). */
export function kaimingNormalFanOut(shape: number[], fanOut: number): tf.Tensor {
  return normal(shape, Math.sqrt(2 / fanOut));
}

/** Xavier (Glorot) uniform, as used by DETR/Mask2Former for transformer weights. */
export function xavierUniform(shape: number[], fanIn: number, fanOut: number): tf.Tensor {
  return uniform(shape, Math.sqrt(6 / (fanIn + fanOut)));
}
