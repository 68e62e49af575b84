/**
 * The base of every network block: named parameters, buffers and sub-modules with torchvision-style
 * dotted names ("layer1.0.conv1.weight"), a state dict, and train/eval mode.
 *
 * A module's forward is an ordinary method built from ordinary tf primitives and reads only its
 * parameters, buffers and arguments (no hidden state), so an exporter can trace it.
 * Parameters and buffers are both tf.Variables (buffers non-trainable), so loading a state dict
 * assigns in place and references held by a forward stay valid.
 */
import * as tf from "@tensorflow/tfjs";
import { VidsegError } from "../core/errors.js";
import "../runtime/quiet.js";

export interface LoadStateDictOptions {
  /** Reject missing and unexpected names (default true). Shape mismatches are always rejected. */
  strict?: boolean;
  /** File the state dict came from, named in errors. */
  file?: string;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

export abstract class Module {
  private readonly ownParameters = new Map<string, tf.Variable>();
  private readonly ownBuffers = new Map<string, tf.Variable>();
  private readonly children = new Map<string, Module>();
  /** Training mode: dropout active. Set with train()/eval(). */
  training = true;

  /** Registers a trainable parameter (the initial tensor is taken over and disposed). */
  protected addParameter(name: string, initial: tf.Tensor): tf.Variable {
    this.assertFreeName(name);
    const variable = tf.variable(initial, true);
    initial.dispose();
    this.ownParameters.set(name, variable);
    return variable;
  }

  /** Registers a non-trainable state tensor (e.g. BatchNorm running statistics). */
  protected addBuffer(name: string, initial: tf.Tensor): tf.Variable {
    this.assertFreeName(name);
    const variable = tf.variable(initial, false);
    initial.dispose();
    this.ownBuffers.set(name, variable);
    return variable;
  }

  /** Registers a child module; its names get the prefix `name.`. */
  protected addModule<M extends Module>(name: string, module: M): M {
    this.assertFreeName(name);
    this.children.set(name, module);
    return module;
  }

  private assertFreeName(name: string): void {
    if (name === "" || name.includes(".")) throw new VidsegError(`invalid module member name "${name}"`);
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new VidsegError(`duplicate module member name "${name}"`);
    }
  }

  /** Direct children, by name. */
  namedChildren(): Map<string, Module> {
    return new Map(this.children);
  }

  /** Every module in the tree (this one under ""), depth first. */
  namedModules(prefix = ""): Map<string, Module> {
    const result = new Map<string, Module>([[prefix, this]]);
    for (const [name, child] of this.children) {
      for (const [sub, module] of child.namedModules(join(prefix, name))) result.set(sub, module);
    }
    return result;
  }

  /**
   * Parameters by dotted name. By default only trainable ones (what an optimiser updates);
   * `{ includeFrozen: true }` adds parameters frozen with `setTrainable(false)`.
   */
  namedParameters(options: { includeFrozen?: boolean } = {}): Map<string, tf.Variable> {
    const result = new Map<string, tf.Variable>();
    for (const [prefix, module] of this.namedModules()) {
      for (const [name, variable] of module.ownParameters) {
        if (variable.trainable || options.includeFrozen) result.set(join(prefix, name), variable);
      }
    }
    return result;
  }

  /** Buffers (non-trainable state) by dotted name. */
  namedBuffers(): Map<string, tf.Tensor> {
    const result = new Map<string, tf.Tensor>();
    for (const [prefix, module] of this.namedModules()) {
      for (const [name, variable] of module.ownBuffers) result.set(join(prefix, name), variable);
    }
    return result;
  }

  /** Number of scalar parameters (trainable and frozen). */
  parameterCount(): number {
    let count = 0;
    for (const variable of this.namedParameters({ includeFrozen: true }).values()) count += variable.size;
    return count;
  }

  /** All parameters and buffers by dotted name (the live variables, not copies). */
  stateDict(): Map<string, tf.Tensor> {
    return new Map<string, tf.Tensor>([
      ...this.namedParameters({ includeFrozen: true }),
      ...this.namedBuffers(),
    ]);
  }

  /**
   * Copies values into the parameters and buffers. Every shape must match; with `strict` (default),
   * a missing or unexpected name is an error too. Nothing is assigned unless every check passes.
   */
  loadStateDict(
    values: ReadonlyMap<string, tf.Tensor>,
    options: LoadStateDictOptions = {},
  ): LoadStateDictResult {
    const strict = options.strict ?? true;
    const own = this.stateDict() as Map<string, tf.Variable>;
    const missing = [...own.keys()].filter((name) => !values.has(name));
    const unexpected = [...values.keys()].filter((name) => !own.has(name));
    if (strict && missing.length > 0) {
      throw new VidsegError(`missing ${describeNames(missing)} in state dict`, options.file);
    }
    if (strict && unexpected.length > 0) {
      throw new VidsegError(`unexpected ${describeNames(unexpected)} in state dict`, options.file);
    }
    for (const [name, variable] of own) {
      const value = values.get(name);
      if (value === undefined) continue;
      if (!tf.util.arraysEqual(value.shape, variable.shape)) {
        throw new VidsegError(
          `shape mismatch: expected [${variable.shape}], got [${value.shape}]`,
          options.file,
          name,
        );
      }
    }
    for (const [name, variable] of own) {
      const value = values.get(name);
      // Assigning a variable to itself would free its data.
      if (value === undefined || value === variable) continue;
      if (value.dtype === variable.dtype) variable.assign(value);
      else tf.tidy(() => variable.assign(tf.cast(value, variable.dtype)));
    }
    return { missing, unexpected };
  }

  /** Freezes (false) or unfreezes (true) every parameter of this module and its children. */
  setTrainable(trainable: boolean): this {
    for (const variable of this.namedParameters({ includeFrozen: true }).values()) {
      variable.trainable = trainable;
    }
    return this;
  }

  /** Sets training mode on this module and all its children. */
  train(mode = true): this {
    for (const module of this.namedModules().values()) module.training = mode;
    return this;
  }

  /** Sets evaluation mode (dropout off). */
  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter and buffer. The module must not be used afterwards. */
  dispose(): void {
    for (const variable of this.stateDict().values()) variable.dispose();
  }
}

/** An ordered list of sub-modules named "0", "1", ... (torch.nn.ModuleList). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];

  constructor(modules: M[] = []) {
    super();
    for (const module of modules) this.push(module);
  }

  push(module: M): M {
    this.addModule(String(this.items.length), module);
    this.items.push(module);
    return module;
  }

  get length(): number {
    return this.items.length;
  }

  at(index: number): M {
    const module = this.items[index];
    if (module === undefined) throw new VidsegError(`module index ${index} out of range (${this.length})`);
    return module;
  }
}

function join(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

function describeNames(names: string[]): string {
  const shown = names.slice(0, 5).join(", ");
  const more = names.length > 5 ? ` and ${names.length - 5} more` : "";
  return `${names.length === 1 ? "name" : "names"} ${shown}${more}`;
}
