/**
 * The referring model's tokenizer: lower-cased words (letters and digits; everything else separates
 * them), mapped to ids by a vocabulary built from the training expressions and stored in the model
 * file (`ModelInfo.vocabulary`). Id 0 pads, id 1 stands for any word outside the vocabulary (UNK).
 *
 * A pretrained tokenizer plugs in through {@link TextTokenizer} (e.g. a wrapper around
 * `@huggingface/tokenizers`), together with a text encoder whose embedding table matches its ids.
 */
import { VidsegError } from "../../core/errors.js";

export const PAD_ID = 0;
export const UNK_ID = 1;
export const PAD_TOKEN = "[PAD]";
export const UNK_TOKEN = "[UNK]";

/** An expression's token ids, and the words the vocabulary does not know (in order, once each). */
export interface Tokenized {
  ids: number[];
  unknown: string[];
}

/** What the referring model needs from a tokenizer. */
export interface TextTokenizer {
  /** Ids of the embedding table, PAD and UNK included. */
  readonly size: number;
  encode(text: string): Tokenized;
}

/** The words of a sentence: lower case, runs of letters and digits (Unicode-aware). */
export function splitWords(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** The vocabulary of a set of expressions: every word, sorted (so it does not depend on their order). */
export function buildVocabulary(expressions: Iterable<string>): string[] {
  const words = new Set<string>();
  for (const expression of expressions) for (const word of splitWords(expression)) words.add(word);
  return [...words].sort();
}

/** Words → ids by a stored vocabulary (index k is id k + 2). */
export class WordTokenizer implements TextTokenizer {
  private readonly ids: Map<string, number>;

  constructor(readonly vocabulary: readonly string[]) {
    this.ids = new Map();
    for (const [k, word] of vocabulary.entries()) {
      if (splitWords(word).length !== 1 || splitWords(word)[0] !== word) {
        throw new VidsegError(`vocabulary entry ${JSON.stringify(word)} is not a lower-case word`);
      }
      if (this.ids.has(word)) throw new VidsegError(`vocabulary lists "${word}" twice`);
      this.ids.set(word, k + 2);
    }
  }

  get size(): number {
    return this.vocabulary.length + 2;
  }

  encode(text: string): Tokenized {
    const ids: number[] = [];
    const unknown: string[] = [];
    for (const word of splitWords(text)) {
      const id = this.ids.get(word);
      if (id === undefined && !unknown.includes(word)) unknown.push(word);
      ids.push(id ?? UNK_ID);
    }
    return { ids, unknown };
  }

  /** The words of token ids (UNK as "[UNK]"), joined by spaces; padding is skipped. */
  decode(ids: readonly number[]): string {
    return ids
      .filter((id) => id !== PAD_ID)
      .map((id) => (id === UNK_ID ? UNK_TOKEN : this.vocabulary[id - 2]))
      .join(" ");
  }
}

/**
 * Ids padded (or cut) to `length`, and the padding mask (1 = padding), for a batch of expressions. An
 * expression without words would leave nothing to attend to: it is an error.
 */
export function padTokens(
  batch: readonly number[][],
  length: number,
): { ids: Int32Array; padding: Uint8Array; lengths: number[] } {
  const ids = new Int32Array(batch.length * length).fill(PAD_ID);
  const padding = new Uint8Array(batch.length * length).fill(1);
  const lengths: number[] = [];
  for (const [b, tokens] of batch.entries()) {
    if (tokens.length === 0) throw new VidsegError("the expression has no words");
    const n = Math.min(tokens.length, length);
    for (let i = 0; i < n; i++) {
      ids[b * length + i] = tokens[i];
      padding[b * length + i] = 0;
    }
    lengths.push(n);
  }
  return { ids, padding, lengths };
}
