/**
 * The typed store of spilled page maps: a file whose map outgrows its record keeps the map
 * as an object of its own (`m/<id>`), named by the record's `mapRef`. A spilled map is
 * written once under a fresh id and never changed, so each instance keeps the maps it has
 * read or written in a small LRU of its own and fetches each at most once.
 *
 * @module
 */

import { mapKey, newId } from "./keys.ts";
import { decode, DECODE_GROWN_BYTES, encode } from "./meta.ts";
import { type PageMap, pageMapProblem } from "./page_map.ts";
import type { ObjectStore } from "../store/types.ts";
import { readAll } from "../store/_util.ts";

/** Spilled maps one store instance keeps in memory (each holds at most a few KiB). */
const CACHED_MAPS = 256;

/** Spilled page maps of one store, with this instance's cache of them. */
export class PageMaps {
  readonly #store: ObjectStore;
  readonly #cache = new Map<string, PageMap>();

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /** The spilled map `id`, or `null` when the object is missing. */
  async get(id: string): Promise<PageMap | null> {
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const key = mapKey(id);
    const result = await this.#store.get(key);
    if (result?.status !== "ok") return null;
    const bytes = await readAll(result.body);
    const map = decode<PageMap>(key, bytes, pageMapProblem, DECODE_GROWN_BYTES);
    this.#remember(id, map);
    return map;
  }

  /** Stores `map` under a fresh id (a create: nothing else names it yet) and returns the id. */
  async put(map: PageMap): Promise<string> {
    const id = newId();
    await this.#store.put(mapKey(id), encode(map), { contentType: "application/json" });
    this.#remember(id, map);
    return id;
  }

  #remember(id: string, map: PageMap): void {
    if (this.#cache.size >= CACHED_MAPS) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(id, map);
  }
}
