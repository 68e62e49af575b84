/**
 * Type checks for parsed JSON that throw one VidsegError naming the file and the JSON path, shared by
 * every format reader so that all of them word their errors the same way.
 */
import { VidsegError } from "../core/errors.js";
import { showValue } from "../core/json.js";
import { checkRelativePath } from "../core/paths.js";

export { showValue };

export class JsonChecker {
  constructor(readonly file?: string) {}

  error(message: string, where: string): VidsegError {
    return new VidsegError(message, this.file, where === "" ? "(top level)" : where);
  }

  /** Throws when `condition` holds; a function message is only built then (some checks run per frame). */
  fail(condition: boolean, message: string | (() => string), where: string | (() => string)): void {
    if (condition)
      throw this.error(
        typeof message === "string" ? message : message(),
        typeof where === "string" ? where : where(),
      );
  }

  object(value: unknown, where: string): Record<string, unknown> {
    if (value === undefined) throw this.error("missing field", where);
    if (value === null || typeof value !== "object" || Array.isArray(value))
      throw this.error(`expected an object, got ${showValue(value)}`, where);
    return value as Record<string, unknown>;
  }

  array(value: unknown, where: string): unknown[] {
    if (value === undefined) throw this.error("missing field", where);
    if (!Array.isArray(value)) throw this.error(`expected a list, got ${showValue(value)}`, where);
    return value;
  }

  string(value: unknown, where: string): string {
    if (value === undefined) throw this.error("missing field", where);
    if (typeof value !== "string") throw this.error(`expected a string, got ${showValue(value)}`, where);
    return value;
  }

  stringArray(value: unknown, where: string): string[] {
    const list = this.array(value, where);
    list.forEach((item, k) => this.string(item, `${where}[${k}]`));
    return list as string[];
  }

  number(value: unknown, where: string): number {
    if (value === undefined) throw this.error("missing field", where);
    if (typeof value !== "number")
      throw this.error(`expected a finite number, got ${showValue(value)}`, where);
    // JSON.parse reads a literal too large for a double, such as 1e999, as Infinity.
    if (!Number.isFinite(value))
      throw this.error(`number is not finite (${showValue(value)}: too large for a double)`, where);
    return value;
  }

  integer(value: unknown, where: string, min = -Infinity): number {
    const n = this.number(value, where);
    if (!Number.isInteger(n) || n < min)
      throw this.error(
        `expected ${min === 0 ? "a non-negative" : min === 1 ? "a positive" : "an"} integer, got ${showValue(value)}`,
        where,
      );
    return n;
  }

  /** An id written as an integer (1) or its decimal string ("1"), as the referring datasets do. */
  integerId(value: unknown, where: string, min = -Infinity): number | string {
    const ok =
      (typeof value === "number" && Number.isInteger(value) && value >= min) ||
      (typeof value === "string" && /^-?\d+$/.test(value) && Number(value) >= min);
    if (!ok)
      throw this.error(
        `expected ${min === 0 ? "a non-negative integer" : "an integer"} id (or its decimal string), got ${showValue(value)}`,
        where,
      );
    return value as number | string;
  }

  /**
   * A name that becomes one file or folder name (a video, an expression id, a frame): a single path
   * component, not "." or "..", so no path built from it leaves its folder.
   */
  pathName(name: string, where: string): string {
    if (checkRelativePath(name, this.file, where) !== name || /[/\\]/.test(name))
      throw this.error(`name ${showValue(name)} must be a single file or folder name`, where);
    return name;
  }
}
