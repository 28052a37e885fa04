/**
 * Structured log lines: `key=value` text (logfmt) by default, or one JSON object per line.
 * Every line carries a time, a level and a message; requests add their own fields.
 *
 * Quiet is possible, silent is not: the least verbose level, `warn`, still logs every
 * request answered 4xx or 5xx, every warning and error, and start-up.
 *
 * @module
 */

/** How much is logged: `debug` > `info` (every request) > `warn` (failures only). */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** `text`: `key=value` pairs; `json`: one JSON object per line. */
export type LogFormat = "text" | "json";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface LoggerOptions {
  /** Least severe level written (default `info`); `error` is treated as `warn`. */
  readonly level?: LogLevel;
  readonly format?: LogFormat;
  /** Writes one line (without its newline); default stdout below `warn`, stderr from it. */
  readonly write?: (line: string, level: LogLevel) => void;
  /** Clock for the `time` field (default the wall clock). */
  readonly now?: () => number;
}

const encoder = new TextEncoder();

function defaultWrite(line: string, level: LogLevel): void {
  const bytes = encoder.encode(line + "\n");
  if (RANK[level] >= RANK.warn) Deno.stderr.writeSync(bytes);
  else Deno.stdout.writeSync(bytes);
}

/** A value as logfmt writes it: bare when plain, quoted (JSON string rules) otherwise. */
function textValue(value: string | number | boolean | null): string {
  if (typeof value !== "string") return String(value);
  // Printable ASCII but space, '"', '=' and '\\': anything else is quoted.
  return /^[!#-<>-[\]-~]+$/.test(value) ? value : JSON.stringify(value);
}

/**
 * Writes structured log lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Logger } from "./log.ts";
 * const lines: string[] = [];
 * const log = new Logger({ write: (line) => lines.push(line), now: () => 0 });
 * log.info("request", { method: "GET", path: "/a b", status: 200 });
 * assert(lines[0] === 'time=1970-01-01T00:00:00.000Z level=info msg=request method=GET path="/a b" status=200');
 * ```
 */
export class Logger {
  readonly level: LogLevel;
  readonly format: LogFormat;
  #write: (line: string, level: LogLevel) => void;
  #now: () => number;

  constructor(options: LoggerOptions = {}) {
    // Errors are never silenced: the quietest level still shows warnings.
    this.level = options.level === "error" ? "warn" : options.level ?? "info";
    this.format = options.format ?? "text";
    this.#write = options.write ?? defaultWrite;
    this.#now = options.now ?? Date.now;
  }

  /** Whether a line at `level` is written. */
  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.level];
  }

  log(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (this.enabled(level)) this.#emit(level, msg, fields);
  }

  /** An info line written at every level (start-up, shutdown): quiet is never silent. */
  notice(msg: string, fields: LogFields = {}): void {
    this.#emit("info", msg, fields);
  }

  #emit(level: LogLevel, msg: string, fields: LogFields): void {
    const time = this.#time(this.#now());
    if (this.format === "json") {
      const record: Record<string, unknown> = { time, level, msg };
      for (const key in fields) if (fields[key] !== undefined) record[key] = fields[key];
      this.#write(JSON.stringify(record), level);
      return;
    }
    let line = `time=${time} level=${level} msg=${textValue(msg)}`;
    for (const key in fields) {
      const value = fields[key];
      if (value !== undefined) line += ` ${key}=${textValue(value)}`;
    }
    this.#write(line, level);
  }

  /** The last line's millisecond and its ISO text: lines come in bursts (one a request). */
  #lastTime = { ms: NaN, text: "" };

  #time(ms: number): string {
    if (ms !== this.#lastTime.ms) this.#lastTime = { ms, text: new Date(ms).toISOString() };
    return this.#lastTime.text;
  }

  debug(msg: string, fields?: LogFields): void {
    this.log("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log("error", msg, fields);
  }
}

/** The message of an error and of each cause below it, joined by ": ". */
export function causeChain(error: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  for (let e = error; e !== undefined && e !== null && !seen.has(e) && parts.length < 5;) {
    seen.add(e);
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.some((p) => p.includes(message))) parts.push(message);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(": ");
}
