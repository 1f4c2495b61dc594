/**
 * CPU seconds of the calling thread alone, from /proc/thread-self/stat (utime + stime), or
 * undefined off Linux. process.cpuUsage() counts every thread of the process; a pool's worker
 * (or a bench's main thread) needs its own share, which on a shared machine is also the time it
 * would have taken on a core of its own.
 */
import fs from "node:fs";

export function threadCpuSeconds(): number | undefined {
  try {
    const stat = fs.readFileSync("/proc/thread-self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}
