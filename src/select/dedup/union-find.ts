/**
 * Disjoint sets over document numbers 0..n−1, in one Uint32Array. A union always hangs the larger
 * root under the smaller, so a set's root is its smallest member: with documents numbered in keep
 * order (domain order in the config, then document id), `find(x)` is the document kept for x's
 * cluster, whatever order the edges were added in. Path halving keeps finds short.
 */
export class UnionFind {
  readonly parent: Uint32Array;

  constructor(n: number) {
    this.parent = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }

  find(x: number): number {
    const p = this.parent;
    while (p[x] !== x) {
      p[x] = p[p[x]];
      x = p[x];
    }
    return x;
  }

  /** Join the sets of x and y; false when they were already one. */
  union(x: number, y: number): boolean {
    const rx = this.find(x),
      ry = this.find(y);
    if (rx === ry) return false;
    if (rx < ry) this.parent[ry] = rx;
    else this.parent[rx] = ry;
    return true;
  }
}
