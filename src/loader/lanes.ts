/**
 * Which lanes a loader builds, and which lanes serve which ranks.
 *
 * The global batch of a step has world × batch_size rows in `lanes` equal blocks; rank r reads
 * rows [r·B, (r+1)·B). A node service builds the lanes its ranks' rows fall in, so the ranks of
 * a node must cover whole lanes: the run's `lanes` a multiple of its nodes.
 */
import type { Config } from "../config/schema.js";
import { ResumeMismatchError } from "./state-blob.js";

/** Lanes [first, first + count) of the run's `lanes`. */
export interface LaneRange {
  readonly first: number;
  readonly count: number;
}

/** The range asked for (default: every lane), checked against the config. */
export function laneRange(config: Config, asked?: LaneRange): LaneRange {
  if (asked === undefined) return { first: 0, count: config.lanes };
  const { first, count } = asked;
  if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 1 || first + count > config.lanes)
    throw new RangeError(`lanes [${first}, ${first + count}) are not within the run's ${config.lanes} lanes`);
  return asked;
}

/**
 * The lanes node `node` of `nodes` builds: an equal share, in order. One line naming the numbers
 * when the run's lanes do not divide among the nodes (a user's mistake, not a bug).
 */
export function nodeLanes(config: Config, node: number, nodes: number): LaneRange {
  if (!Number.isInteger(nodes) || nodes < 1) throw new ResumeMismatchError(`nodes must be a positive integer, got ${nodes}`);
  if (!Number.isInteger(node) || node < 0 || node >= nodes) throw new ResumeMismatchError(`node must be in [0, ${nodes}), got ${node}`);
  if (config.lanes % nodes !== 0)
    throw new ResumeMismatchError(`lanes ${config.lanes} do not divide among ${nodes} nodes: each node builds whole lanes (make lanes a multiple of nodes)`);
  const count = config.lanes / nodes;
  return { first: node * count, count };
}
