/**
 * The node flags `mixload serve` should run under (README, Benchmarks: "The reply latency tail").
 *
 * `--single-threaded-gc`: V8 otherwise marks and sweeps on helper threads, one set per isolate,
 * and the service has at least two (its main thread and the batch builder). On a host whose cores
 * the trainer also uses, those helpers take the core a reply is being written on: in the
 * serve.latency bench (2 cores) the 1-rank reply p99 went from 10.8–13.4 ms to 7.5–8.5 ms with it.
 *
 * Not on the command's `#!` line: that would need `env -S`, which BusyBox (Alpine images) lacks,
 * and a re-exec would leave an orphan serving the sockets if the parent were SIGKILLed. So the
 * examples and the bench start the service as `node --single-threaded-gc dist/src/cli/main.js
 * serve …`, and `serve` says so when the flags are missing.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ["--single-threaded-gc"];

/** The service flags this process was started without. */
export function missingServiceFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVICE_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
