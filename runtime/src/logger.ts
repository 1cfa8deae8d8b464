import { pino, type Logger } from "pino";

/** The one root logger of a process (made by its main; everything else gets children of it). */
export function rootLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid } });
}
