/**
 * Child of bench/parquet.ts: open the loader on a config, run N steps with its mixer's weights, and
 * print the peak RSS (sampled every 10 ms and after every step) as JSON. A process of its own, so
 * the figure is the loader's and not the bench's.
 */
import { openRun } from "../src/cli/common.js";

const [config, stepsArg] = process.argv.slice(2);
let peak = process.memoryUsage.rss();
const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
const { loader, mixer } = await openRun(config, {});
for (let s = 0; s < Number(stepsArg); s++) {
  if ((await loader.next(mixer.weights(loader.step))) === null) break;
  peak = Math.max(peak, process.memoryUsage.rss());
}
const counters = loader.blockReadCounters();
const decoded = counters.reduce((n, c) => n + c.charsDecoded, 0);
const served = counters.reduce((n, c) => n + c.charsServed, 0);
await loader.close();
clearInterval(sample);
const blocks = counters.reduce((n, c) => n + c.blocksDecoded, 0);
const distinct = counters.reduce((n, c) => n + c.blocksDistinct, 0);
process.stdout.write(
  JSON.stringify({ peak_rss: peak, amplification: served > 0 ? decoded / served : null, redecode: distinct > 0 ? blocks / distinct : null }),
);
