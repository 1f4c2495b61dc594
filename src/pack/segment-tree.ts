/**
 * A multiset of bin capacities 0..maxValue that answers "smallest capacity ≥ x" in O(log L).
 *
 * This is the index behind Optimized Best-Fit Decreasing (OBFD; Ding et al., "Fewer Truncations
 * Improve Language Modeling", arXiv:2404.10830, appendix B; also OLMo-core's InstancePacker):
 * since capacities are small integers, index the tree by the capacity *value* rather than by bin.
 * Leaf c holds c when at least one bin has exactly c tokens free, and -1 otherwise; inner nodes
 * hold the max of their children. "Tightest bin that fits x" is then a walk from the root that
 * goes left whenever the left subtree still holds a value ≥ x: the leftmost leaf ≥ x.
 *
 * Which of several bins with the same capacity to use is the caller's business (it keeps one
 * list per capacity); the tree only knows how many there are.
 */
export class CapacityTree {
  /** Largest value that can be stored. */
  readonly maxValue: number;
  /** Leaves start here (a power of two ≥ maxValue + 1). */
  private readonly base: number;
  /** Implicit binary tree, root at 1, leaf for value c at base + c. -1 = empty. */
  private readonly tree: Int32Array;
  /** How many copies of each value are present. */
  private readonly counts: Int32Array;
  private total = 0;

  constructor(maxValue: number) {
    if (!Number.isInteger(maxValue) || maxValue < 0 || maxValue > 1 << 28) {
      throw new RangeError(`CapacityTree: maxValue must be an integer in [0, 2^28], got ${maxValue}`);
    }
    this.maxValue = maxValue;
    let base = 1;
    while (base < maxValue + 1) base <<= 1;
    this.base = base;
    this.tree = new Int32Array(2 * base).fill(-1);
    this.counts = new Int32Array(maxValue + 1);
  }

  /** Number of values stored (with multiplicity). */
  get size(): number {
    return this.total;
  }

  /** How many copies of `value` are stored. */
  count(value: number): number {
    return this.counts[value];
  }

  /** Add one copy of `value`. */
  insert(value: number): void {
    this.check(value);
    if (this.counts[value]++ === 0) this.setLeaf(value, value);
    this.total++;
  }

  /** Remove one copy of `value`; throws if there is none. */
  remove(value: number): void {
    this.check(value);
    if (this.counts[value] === 0) throw new RangeError(`CapacityTree.remove: ${value} is not present`);
    if (--this.counts[value] === 0) this.setLeaf(value, -1);
    this.total--;
  }

  /** Smallest stored value ≥ x, or -1 when every stored value is < x. */
  findMinAtLeast(x: number): number {
    const tree = this.tree;
    if (tree[1] < x) return -1;
    const base = this.base;
    let node = 1;
    while (node < base) {
      node <<= 1;
      if (tree[node] < x) node++;
    }
    return node - base;
  }

  /** Largest stored value, or -1 when empty. */
  max(): number {
    return this.tree[1];
  }

  /** Remove everything, in O(distinct values · log L) rather than O(L). */
  clear(): void {
    const counts = this.counts;
    while (this.tree[1] >= 0) {
      const v = this.tree[1];
      counts[v] = 0;
      this.setLeaf(v, -1);
    }
    this.total = 0;
  }

  private setLeaf(value: number, leaf: number): void {
    const tree = this.tree;
    let i = this.base + value;
    tree[i] = leaf;
    i >>= 1;
    while (i >= 1) {
      const l = tree[2 * i];
      const r = tree[2 * i + 1];
      const m = l > r ? l : r;
      // Ancestors already hold this max: nothing above can change.
      if (tree[i] === m) return;
      tree[i] = m;
      i >>= 1;
    }
  }

  private check(value: number): void {
    if (!(value >= 0 && value <= this.maxValue && Number.isInteger(value))) {
      throw new RangeError(`CapacityTree: value must be an integer in [0, ${this.maxValue}], got ${value}`);
    }
  }
}
