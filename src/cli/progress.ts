/**
 * What a maintenance run shows while it runs: the store wrapped to count the objects the run
 * lists and reads, and the progress line those counts feed on stderr.
 *
 * @module
 */

import type { ObjectStore } from "../store/mod.ts";
import { n, size } from "./report.ts";

/** What a run has looked at so far. */
export interface Seen {
  listed: number;
  listedBytes: number;
  read: number;
}

/**
 * The store, counting what a maintenance run reads and lists: objects listed (and their
 * bytes) and objects read, for the progress line.
 */
export function counting(store: ObjectStore, seen: Seen): ObjectStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      if (prop === "list") {
        return async (...args: Parameters<ObjectStore["list"]>) => {
          const page = await target.list(...args);
          seen.listed += page.objects.length;
          for (const o of page.objects) seen.listedBytes += o.size;
          return page;
        };
      }
      if (prop === "get" || prop === "head") {
        return (...args: unknown[]) => {
          seen.read++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
}

/** Prints progress to stderr at most once a second: one updated line on a terminal. */
export class Progress {
  #label: string;
  #seen: Seen;
  #started = performance.now();
  #timer: ReturnType<typeof setInterval> | null = null;
  #tty: boolean;
  #write: (text: string) => void;

  constructor(label: string, seen: Seen, write: (text: string) => void, tty: boolean) {
    this.#label = label;
    this.#seen = seen;
    this.#write = write;
    this.#tty = tty;
  }

  start(intervalMs = 1000): void {
    this.#timer = setInterval(() => this.#print(false), intervalMs);
  }

  #line(): string {
    const s = this.#seen;
    const seconds = (performance.now() - this.#started) / 1000;
    return `${this.#label}: ${n(s.listed)} objects listed (${size(s.listedBytes)}), ` +
      `${n(s.read)} read, ${seconds.toFixed(1)} s`;
  }

  #print(final: boolean): void {
    if (this.#tty) this.#write(`\r\x1b[K${this.#line()}${final ? "\n" : ""}`);
    else this.#write(`${this.#line()}\n`);
  }

  stop(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
    this.#print(true);
  }
}
