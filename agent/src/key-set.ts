const EMPTY = 0;
const DELETED = -1;
const MAX_LOAD = 0.7;
/** A rebuilt shard is at most half full: fuller tables rebuild sooner, emptier ones take memory. */
const LOAD_AFTER_REBUILD = 0.5;
/** Longest key kept in the arena (its length is stored in one byte); longer ones go to a Set. */
const MAX_ARENA_KEY = 255;
/** The arena grows by chunks of 64 KiB: see the class for why no buffer here is 128 KiB or more. */
const CHUNK_BITS = 16;
/** 256 shards: each one's table stays under 128 KiB while a host has fewer than about 2.9 million bans. */
const SHARD_BITS = 8;

interface Shard {
  /** Per slot: 0 empty, -1 deleted, else 1 + the key's position in the arena (chunk << 16 | offset). */
  slots: Int32Array;
  /** Per slot: the key's hash, so most mismatches are found without reading the arena. */
  hashes: Uint32Array;
  /** Per slot: the number kept with the key (a ban's expiry in seconds; 0 for none). */
  values: Uint32Array;
  live: number;
  deleted: number;
}

/**
 * A set of bans-bucket keys, kept as bytes. A host with a million bans holds a million keys: as
 * strings in a `Set` that is about 73 bytes each (a 16-byte string header, the text rounded up to 8
 * bytes, and the table's share), and a million objects for every full collection to trace. Here a key
 * takes its length byte, its text, and 8 bytes per slot of a table kept half to 70 % full: about 40
 * bytes, in buffers the collector does not look into. Lookups hash the string's char codes in
 * place, so asking allocates nothing, and adding copies the text out of whatever string it came in (a
 * key sliced from a NATS subject would otherwise keep the whole subject alive).
 *
 * No buffer is 128 KiB or more, and none is freed while keys are only added: the arena is a list of
 * 64 KiB chunks, and the table is 256 shards by the hash's top bits. glibc serves larger blocks with
 * mmap, and freeing one raises its thresholds for giving memory back to the system up to that size:
 * one arena that doubled as it grew left the agent 0.7 MiB larger than keys as strings, not smaller.
 *
 * Keys are ASCII (NATS KV keys are); any other key, or one longer than 255, is kept in a plain `Set`.
 * Each shard is open addressing with linear probing; deleted slots are marked and reclaimed when the
 * shard is rebuilt. The bytes of deleted keys stay in the arena until it is compacted, once they are
 * half of it.
 */
export class KeySet {
  readonly #chunkBits: number;
  readonly #chunk: number;
  readonly #shardBits: number;
  #shards: Shard[];
  #chunks: Uint8Array[];
  /** Where the next key goes in the last chunk. */
  #end = 0;
  #live = 0;
  #deadBytes = 0;
  #others = new Map<string, number>();

  /** The sizes are for tests, which make chunks and shards few to reach every path with few keys. */
  constructor({ chunkBits = CHUNK_BITS, shardBits = SHARD_BITS } = {}) {
    if (1 << chunkBits < MAX_ARENA_KEY + 1) throw new RangeError("a chunk must hold the longest key");
    this.#chunkBits = chunkBits;
    this.#chunk = 1 << chunkBits;
    this.#shardBits = shardBits;
    this.#shards = Array.from({ length: 1 << shardBits }, () => newShard(8));
    this.#chunks = [new Uint8Array(this.#chunk)];
  }

  get size(): number {
    return this.#live + this.#others.size;
  }

  has(key: string): boolean {
    const hash = arenaHash(key);
    return hash < 0 ? this.#others.has(key) : this.#find(this.#shardOf(hash), key, hash) >= 0;
  }

  /** The number kept with `key` (an unsigned 32-bit integer), or undefined when it is not there. */
  get(key: string): number | undefined {
    const hash = arenaHash(key);
    if (hash < 0) return this.#others.get(key);
    const shard = this.#shardOf(hash);
    const slot = this.#find(shard, key, hash);
    return slot < 0 ? undefined : shard.values[slot];
  }

  /** Adds `key` with `value` (an unsigned 32-bit integer); false when it was there already (its value is replaced). */
  add(key: string, value = 0): boolean {
    const hash = arenaHash(key);
    if (hash < 0) {
      const had = this.#others.has(key);
      this.#others.set(key, value >>> 0);
      return !had;
    }
    let shard = this.#shardOf(hash);
    const at = this.#find(shard, key, hash);
    if (at >= 0) {
      shard.values[at] = value;
      return false;
    }
    if ((shard.live + shard.deleted + 1) / shard.slots.length > MAX_LOAD) shard = this.#rebuild(hash);
    const slot = freeSlot(shard, hash);
    if (shard.slots[slot] === DELETED) shard.deleted -= 1;
    shard.slots[slot] = this.#store(key) + 1;
    shard.hashes[slot] = hash;
    shard.values[slot] = value;
    shard.live += 1;
    this.#live += 1;
    return true;
  }

  /** Removes `key`; false when it was not there. */
  delete(key: string): boolean {
    const hash = arenaHash(key);
    if (hash < 0) return this.#others.delete(key);
    const shard = this.#shardOf(hash);
    const slot = this.#find(shard, key, hash);
    if (slot < 0) return false;
    shard.slots[slot] = DELETED;
    shard.live -= 1;
    shard.deleted += 1;
    this.#live -= 1;
    this.#deadBytes += key.length + 1;
    if (this.#deadBytes > this.#chunk && this.#deadBytes * 2 > this.#chunks.length * this.#chunk) this.#compact();
    return true;
  }

  /** Up to `n` keys with their values, from a random place in the set (spot checks). */
  sample(n: number, random: () => number = Math.random): [string, number][] {
    const out: [string, number][] = [];
    const first = Math.floor(random() * this.#shards.length);
    for (let i = 0; i < this.#shards.length && out.length < n; i += 1) {
      const shard = this.#shards[(first + i) % this.#shards.length] as Shard;
      const start = Math.floor(random() * shard.slots.length);
      for (let j = 0; j < shard.slots.length && out.length < n; j += 1) {
        const slot = (start + j) % shard.slots.length;
        const at = shard.slots[slot] as number;
        if (at > 0) out.push([this.#text(at - 1), shard.values[slot] as number]);
      }
    }
    for (const [k, v] of this.#others) if (out.length < n) out.push([k, v]);
    return out;
  }

  /** Calls `fn` with every key and its value, in no particular order; the set must not change meanwhile. */
  forEach(fn: (key: string, value: number) => void): void {
    for (const shard of this.#shards) {
      for (let i = 0; i < shard.slots.length; i += 1) {
        const at = shard.slots[i] as number;
        if (at > 0) fn(this.#text(at - 1), shard.values[i] as number);
      }
    }
    for (const [k, v] of this.#others) fn(k, v);
  }

  #text(position: number): string {
    const index = position >>> this.#chunkBits;
    const chunk = this.#chunks[index] as Uint8Array;
    const offset = position & (this.#chunk - 1);
    // a Buffer view per chunk, made once: decoding a key then allocates only the string
    let view = this.#views[index];
    if (view?.buffer !== chunk.buffer) {
      view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      this.#views[index] = view;
    }
    return view.toString("latin1", offset + 1, offset + 1 + (chunk[offset] as number));
  }
  #views: Buffer[] = [];

  #shardOf(hash: number): Shard {
    return this.#shards[this.#shardIndex(hash)] as Shard;
  }

  #shardIndex(hash: number): number {
    return this.#shardBits === 0 ? 0 : hash >>> (32 - this.#shardBits);
  }

  /** The slot holding `key`, or -1. */
  #find(shard: Shard, key: string, hash: number): number {
    const mask = shard.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const at = shard.slots[slot] as number;
      if (at === EMPTY) return -1;
      if (at !== DELETED && shard.hashes[slot] === hash && this.#equals(at - 1, key)) return slot;
    }
  }

  #equals(position: number, key: string): boolean {
    const chunk = this.#chunks[position >>> this.#chunkBits] as Uint8Array;
    const offset = position & (this.#chunk - 1);
    if (chunk[offset] !== key.length) return false;
    for (let i = 0; i < key.length; i += 1) if (chunk[offset + 1 + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  /** Copies `key` after the last one (a new chunk when it does not fit); returns its position. */
  #store(key: string): number {
    this.#ensureRoom(key.length);
    const chunk = this.#chunks[this.#chunks.length - 1] as Uint8Array;
    const offset = this.#end;
    chunk[offset] = key.length;
    for (let i = 0; i < key.length; i += 1) chunk[offset + 1 + i] = key.charCodeAt(i);
    this.#end += 1 + key.length;
    return ((this.#chunks.length - 1) << this.#chunkBits) | offset;
  }

  /** The shard of `hash` made again, sized for its live keys (twice, a power of two); returns it. */
  #rebuild(hash: number): Shard {
    const index = this.#shardIndex(hash);
    const old = this.#shards[index] as Shard;
    let capacity = 8;
    while ((old.live + 1) / capacity > LOAD_AFTER_REBUILD) capacity *= 2;
    const shard = newShard(capacity);
    for (let i = 0; i < old.slots.length; i += 1) {
      const at = old.slots[i] as number;
      if (at <= 0) continue;
      const slot = freeSlot(shard, old.hashes[i] as number);
      shard.slots[slot] = at;
      shard.hashes[slot] = old.hashes[i] as number;
      shard.values[slot] = old.values[i] as number;
    }
    shard.live = old.live;
    this.#shards[index] = shard;
    return shard;
  }

  /** Copies the live keys into new chunks, dropping the bytes of deleted ones. */
  #compact(): void {
    const chunks = this.#chunks;
    this.#chunks = [new Uint8Array(this.#chunk)];
    this.#end = 0;
    for (const shard of this.#shards) {
      for (let i = 0; i < shard.slots.length; i += 1) {
        const at = shard.slots[i] as number;
        if (at <= 0) continue;
        const chunk = chunks[(at - 1) >>> this.#chunkBits] as Uint8Array;
        const offset = (at - 1) & (this.#chunk - 1);
        const length = chunk[offset] as number;
        this.#ensureRoom(length);
        const target = this.#chunks[this.#chunks.length - 1] as Uint8Array;
        target.set(chunk.subarray(offset, offset + 1 + length), this.#end);
        shard.slots[i] = (((this.#chunks.length - 1) << this.#chunkBits) | this.#end) + 1;
        this.#end += 1 + length;
      }
    }
    this.#deadBytes = 0;
  }

  #ensureRoom(length: number): void {
    if (this.#end + 1 + length > this.#chunk) {
      this.#chunks.push(new Uint8Array(this.#chunk));
      this.#end = 0;
    }
  }
}

function newShard(capacity: number): Shard {
  return { slots: new Int32Array(capacity), hashes: new Uint32Array(capacity), values: new Uint32Array(capacity), live: 0, deleted: 0 };
}

/** The first empty or deleted slot on `hash`'s probe sequence. */
function freeSlot(shard: Shard, hash: number): number {
  const mask = shard.slots.length - 1;
  let slot = hash & mask;
  while ((shard.slots[slot] as number) > 0) slot = (slot + 1) & mask;
  return slot;
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
