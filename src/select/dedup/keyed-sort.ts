/**
 * Documents grouped by a 32-bit key without a hash map: each (key, document) goes into one
 * 64-bit word, key above document number, and a BigUint64Array sorts them natively (the words
 * are written through a Uint32Array view, so no BigInt is ever made; little-endian: low word
 * first). After `sort()`, documents with equal keys are adjacent runs, in document order.
 */
export class KeyedDocs {
  private readonly packed: BigUint64Array;
  private readonly words: Uint32Array;

  constructor(readonly length: number) {
    this.packed = new BigUint64Array(length);
    this.words = new Uint32Array(this.packed.buffer);
  }

  set(k: number, doc: number, key: number): void {
    this.words[2 * k] = doc;
    this.words[2 * k + 1] = key;
  }

  sort(): void {
    this.packed.sort();
  }

  /** The document at sorted position k. */
  doc(k: number): number {
    return this.words[2 * k];
  }

  /** Call `visit(start, end)` for each run [start, end) of equal keys that has more than one document. */
  forEachRun(visit: (start: number, end: number) => void): void {
    const w = this.words;
    let start = 0;
    for (let k = 1; k <= this.length; k++) {
      if (k < this.length && w[2 * k + 1] === w[2 * start + 1]) continue;
      if (k - start > 1) visit(start, k);
      start = k;
    }
  }
}
