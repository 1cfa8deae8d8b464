const EMPTY = 0;
const DELETED = -1;
const MAX_LOAD = 0.7;
/** Longest key kept in the arena (its length is stored in one byte); longer ones go to a Set. */
const MAX_ARENA_KEY = 255;

/**
 * A set of bans-bucket keys, kept as bytes in one buffer. A host with a million bans holds a million
 * keys: as strings in a `Set` that is about 73 bytes each (a 16-byte string header, the text rounded
 * up to 8 bytes, and the table's share), and a million objects for every full collection to trace.
 * Here a key takes its length byte, its text, and 8 bytes per slot of a table kept a third to
 * two thirds full: about 45 bytes, in three buffers the collector does not look into. Lookups hash the string's char codes in place, so asking
 * allocates nothing, and adding copies the text out of whatever string it came in (a key sliced from a
 * NATS subject would otherwise keep the whole subject alive).
 *
 * Keys are ASCII (NATS KV keys are); any other key, or one longer than 255, is kept in a plain `Set`.
 * Open addressing with linear probing; deleted slots are marked and reclaimed when the table is rebuilt,
 * which also drops deleted keys' bytes from the arena.
 */
export class KeySet {
  /** Per slot: 0 empty, -1 deleted, else 1 + the key's offset in the arena. */
  #slots = new Int32Array(64);
  /** Per slot: the key's hash, so most mismatches are found without reading the arena. */
  #hashes = new Uint32Array(64);
  #arena = new Uint8Array(1024);
  #end = 0;
  #live = 0;
  #deleted = 0;
  #others = new Set<string>();

  get size(): number {
    return this.#live + this.#others.size;
  }

  has(key: string): boolean {
    const hash = arenaHash(key);
    return hash < 0 ? this.#others.has(key) : this.#find(key, hash) >= 0;
  }

  /** Adds `key`; false when it was there already. */
  add(key: string): boolean {
    const hash = arenaHash(key);
    if (hash < 0) {
      if (this.#others.has(key)) return false;
      this.#others.add(key);
      return true;
    }
    if (this.#find(key, hash) >= 0) return false;
    if ((this.#live + this.#deleted + 1) / this.#slots.length > MAX_LOAD) this.#rebuild();
    const slot = this.#freeSlot(hash);
    if (this.#slots[slot] === DELETED) this.#deleted -= 1;
    this.#slots[slot] = this.#store(key) + 1;
    this.#hashes[slot] = hash;
    this.#live += 1;
    return true;
  }

  /** Removes `key`; false when it was not there. */
  delete(key: string): boolean {
    const hash = arenaHash(key);
    if (hash < 0) return this.#others.delete(key);
    const slot = this.#find(key, hash);
    if (slot < 0) return false;
    this.#slots[slot] = DELETED;
    this.#live -= 1;
    this.#deleted += 1;
    return true;
  }

  /** The slot holding `key`, or -1. */
  #find(key: string, hash: number): number {
    const mask = this.#slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const at = this.#slots[slot] as number;
      if (at === EMPTY) return -1;
      if (at !== DELETED && this.#hashes[slot] === hash && this.#equals(at - 1, key)) return slot;
    }
  }

  /** The first empty or deleted slot on `hash`'s probe sequence. */
  #freeSlot(hash: number): number {
    const mask = this.#slots.length - 1;
    let slot = hash & mask;
    while ((this.#slots[slot] as number) > 0) slot = (slot + 1) & mask;
    return slot;
  }

  #equals(offset: number, key: string): boolean {
    const arena = this.#arena;
    if (arena[offset] !== key.length) return false;
    for (let i = 0; i < key.length; i += 1) if (arena[offset + 1 + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  /** Copies `key` to the arena's end; returns its offset. */
  #store(key: string): number {
    if (this.#end + 1 + key.length > this.#arena.length) {
      const grown = new Uint8Array(Math.max(this.#arena.length * 2, this.#end + 1 + key.length));
      grown.set(this.#arena.subarray(0, this.#end));
      this.#arena = grown;
    }
    const offset = this.#end;
    this.#arena[offset] = key.length;
    for (let i = 0; i < key.length; i += 1) this.#arena[offset + 1 + i] = key.charCodeAt(i);
    this.#end += 1 + key.length;
    return offset;
  }

  /** A table sized for the live keys (twice, rounded to a power of two), and an arena of theirs only. */
  #rebuild(): void {
    const [slots, hashes, arena] = [this.#slots, this.#hashes, this.#arena];
    let capacity = 64;
    while ((this.#live + 1) / capacity > MAX_LOAD / 2) capacity *= 2;
    this.#slots = new Int32Array(capacity);
    this.#hashes = new Uint32Array(capacity);
    const live = new Uint8Array(liveBytes(slots, arena) + 1024);
    let end = 0;
    for (let old = 0; old < slots.length; old += 1) {
      const at = slots[old] as number;
      if (at <= 0) continue;
      const length = (arena[at - 1] as number) + 1;
      live.set(arena.subarray(at - 1, at - 1 + length), end);
      const hash = hashes[old] as number;
      const slot = this.#freeSlot(hash);
      this.#slots[slot] = end + 1;
      this.#hashes[slot] = hash;
      end += length;
    }
    this.#arena = live;
    this.#end = end;
    this.#deleted = 0;
  }
}

/** Bytes the keys of `slots` take in `arena`, their length bytes included. */
function liveBytes(slots: Int32Array, arena: Uint8Array): number {
  let bytes = 0;
  for (const at of slots) if (at > 0) bytes += (arena[at - 1] as number) + 1;
  return bytes;
}

/** FNV-1a over the key's char codes, as a non-negative 32-bit number; -1 when the key cannot go in the arena. */
export function arenaHash(key: string): number {
  if (key.length > MAX_ARENA_KEY) return -1;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    const c = key.charCodeAt(i);
    if (c > 127) return -1;
    hash = Math.imul(hash ^ c, 0x01000193);
  }
  return hash >>> 0;
}
