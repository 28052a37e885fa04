/**
 * How many request bodies are streamed at once. Deno's HTTP/1.1 server keeps, per
 * connection, a read buffer that grows while a chunked body's client sends faster than the
 * body is read (each chunked frame costs one read more than it fills; see `BODY_CHUNK` in
 * `body_reader.ts`), and that memory is outside the budget: 256 clients each PUTting 4 MiB
 * chunked at once peaked at 300-470 MiB of RSS, about 1.4 MiB per connection being read
 * (bench/crowd.ts). A body waits for a slot before its first read, so that only so many
 * connections can grow; the others are simply not read yet, and TCP flow control holds
 * their clients at no cost.
 *
 * A body whose read finds nothing to take for a moment (its client sends slowly, so the
 * runtime's buffer is empty) gives its slot up while it waits, and takes one back without
 * waiting when its data comes: slow clients do not hold the slots that fast ones need, and
 * a body once started never waits for a slot again (it may hold bytes of the memory budget
 * that only its own progress frees).
 *
 * @module
 */

import type { Context } from "hono";
import { Deadlines } from "../deadlines.ts";

/** Request bodies streamed at once, by default. */
export const BODIES_AT_ONCE = 16;

/**
 * A read that has not returned after this long gives its body's slot up meanwhile (after
 * 20-30 ms: the reads are timed by one sweeping interval, see {@linkcode BodySlots}).
 */
const SLOW_READ_MS = 20;

/**
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BodySlots } from "./body_slots.ts";
 * const slots = new BodySlots(1);
 * const a = slots.body();
 * await a.read(async () => 1);
 * let bStarted = false;
 * const b = slots.body().read(async () => bStarted = true);
 * await new Promise((r) => setTimeout(r, 5));
 * assert(!bStarted);
 * a.end();
 * await b;
 * assert(bStarted);
 * ```
 */
export class BodySlots {
  readonly max: number;
  #active = 0;
  /**
   * The clocks of the reads under way, kept by one interval: a `setTimeout` and its
   * `clearTimeout` per read cost 2-4 µs, and a 256 MiB body is 4,096 reads of 64 KiB
   * (16,384 of 16 KiB chunked), read one after another on the thread that also relays it.
   */
  readonly slowReads = new Deadlines(SLOW_READ_MS, { keepAlive: false });
  readonly #waiting: (() => void)[] = [];
  /** The most bodies streamed at once so far (for tests). */
  peak = 0;

  constructor(max = BODIES_AT_ONCE) {
    this.max = max;
  }

  /** Bodies holding a slot now. */
  get active(): number {
    return this.#active;
  }

  /** One request body's use of the slots: each read through it, then `end()`. */
  body(): BodySlot {
    return new BodySlot(this);
  }

  /** @internal Waits for a free slot, then takes it. */
  async enter(): Promise<void> {
    while (this.#active >= this.max) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.take();
  }

  /** @internal Takes a slot at once (a body already started). */
  take(): void {
    this.#active++;
    this.peak = Math.max(this.peak, this.#active);
  }

  /** @internal Gives a slot back. */
  leave(): void {
    this.#active--;
    if (this.#active < this.max) this.#waiting.shift()?.();
  }
}

/** A body's slot; see {@linkcode BodySlots}. */
export class BodySlot {
  readonly #slots: BodySlots;
  #state: "new" | "in" | "out" | "ended" = "new";

  constructor(slots: BodySlots) {
    this.#slots = slots;
  }

  /** Runs one read of the body, holding the slot (waiting for one before the first). */
  async read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#state === "new") {
      await this.#slots.enter();
      // Ended while it waited (its request finished, its stream was cancelled): the slot
      // it just took goes straight back. Kept, it was held for good, and once every slot
      // had leaked so, every later body waited forever.
      if (this.#ended()) this.#slots.leave();
    } else if (this.#state === "out") this.#slots.take();
    if (this.#state === "ended") return await fn();
    this.#state = "in";
    const done = this.#slots.slowReads.start(() => {
      if (this.#state !== "in") return;
      this.#state = "out";
      this.#slots.leave();
    });
    try {
      return await fn();
    } finally {
      done();
    }
  }

  /** Whether `end` was called (a method: it may have been while a read awaited). */
  #ended(): boolean {
    return this.#state === "ended";
  }

  /** The body is read, failed or given up: its slot goes to the next body. */
  end(): void {
    if (this.#state === "in") this.#slots.leave();
    this.#state = "ended";
  }
}

const SLOTS_KEY = "pagefs.bodySlots";
const HELD_KEY = "pagefs.bodySlotsHeld";

/**
 * Makes this request's bodies take their slots from `slots` (the app does, for every
 * request), and gives back at the end of the request any slot a handler left held.
 */
export async function withBodySlots(
  c: Context,
  slots: BodySlots,
  next: () => Promise<void>,
): Promise<void> {
  const held: BodySlot[] = [];
  c.set(SLOTS_KEY as never, slots as never);
  c.set(HELD_KEY as never, held as never);
  try {
    await next();
  } finally {
    for (const slot of held) slot.end();
  }
}

/** A slot for a body of this request, or null when the app set no slots. */
export function bodySlotOf(c: Context): BodySlot | null {
  const slots = c.get(SLOTS_KEY as never) as BodySlots | undefined;
  if (!slots) return null;
  const slot = slots.body();
  (c.get(HELD_KEY as never) as BodySlot[]).push(slot);
  return slot;
}
