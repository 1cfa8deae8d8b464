import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { banKey } from "@fleetwall/api";
import { KeySet, arenaHash } from "./key-set.js";

describe("KeySet", () => {
  it.each([
    ["as shipped", {}],
    ["one shard and 512-byte chunks (rebuilds and compactions come early)", { shardBits: 0, chunkBits: 9 }],
    ["four shards and 512-byte chunks", { shardBits: 2, chunkBits: 9 }],
  ])("answers as a Set<string> does, for any sequence of adds and deletes: %s", (_, sizes) => {
    // a small pool, so keys come back after being deleted; some not ASCII, one too long for the arena
    const key = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map((i) => banKey("bulk", `2001:db8::${i.toString(16)}`)),
      fc.integer({ min: 0, max: 40 }).map((i) => `local.sshd.203.0.113.${i}`),
      fc.constantFrom("", "é.x", "l.ключ", "x".repeat(255), "y".repeat(256)),
    );
    const op = fc.tuple(fc.constantFrom("add", "delete", "has"), key);
    fc.assert(
      fc.property(fc.array(op, { minLength: 1000, maxLength: 3000 }), (ops) => {
        const model = new Set<string>();
        const set = new KeySet(sizes);
        for (const [what, k] of ops) {
          if (what === "add") expect(set.add(k)).toBe(!model.has(k) && !!model.add(k));
          else if (what === "delete") expect(set.delete(k)).toBe(model.delete(k));
          else expect(set.has(k)).toBe(model.has(k));
          expect(set.size).toBe(model.size);
        }
        for (const k of model) expect(set.has(k)).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it("tells apart keys whose hashes are equal", () => {
    const seen = new Map<number, string>();
    const pairs: [string, string][] = [];
    for (let i = 0; pairs.length < 3 && i < 1_000_000; i += 1) {
      const k = banKey("l", `2001:db8:${(Math.imul(i, 0x9e3779b1) >>> 0).toString(16)}::${i.toString(16)}`);
      const other = seen.get(arenaHash(k));
      if (other !== undefined) pairs.push([other, k]);
      else seen.set(arenaHash(k), k);
    }
    expect(pairs).toHaveLength(3);
    const set = new KeySet({ shardBits: 0 });
    for (const [a, b] of pairs) {
      expect(arenaHash(a)).toBe(arenaHash(b));
      expect(set.add(a)).toBe(true);
      expect(set.has(b)).toBe(false);
      expect(set.add(b)).toBe(true);
      expect(set.delete(a)).toBe(true);
      expect([set.has(a), set.has(b)]).toEqual([false, true]);
    }
  });

  it("keeps 100,000 keys through deletes and rebuilds, and knows a key from one a character away", () => {
    const set = new KeySet();
    const keys = Array.from({ length: 100_000 }, (_, i) => banKey("bulk", `2001:db8:ffff:${(i >> 16).toString(16)}::${(i & 0xffff).toString(16)}`));
    const wrong: string[] = [];
    for (const k of keys) if (!set.add(k)) wrong.push(`add ${k}`);
    keys.forEach((k, i) => i % 2 === 0 && set.delete(k));
    for (const k of keys) set.add(`${k}x`);
    expect(set.size).toBe(150_000);
    keys.forEach((k, i) => {
      if (set.has(k) !== (i % 2 === 1)) wrong.push(`has ${k}`);
      if (!set.has(`${k}x`) || set.has(`${k}y`)) wrong.push(`has ${k}x or ${k}y`);
    });
    expect(wrong).toEqual([]);
  });
});

describe("KeySet values", () => {
  it.each([
    ["as shipped", {}],
    ["one shard and 512-byte chunks", { shardBits: 0, chunkBits: 9 }],
  ])("keeps a number with each key through rebuilds and compactions, and lists and samples exactly its keys: %s", (_, sizes) => {
    const key = fc.oneof(fc.integer({ min: 0, max: 200 }).map((i) => banKey("bulk", `2001:db8::${i.toString(16)}`)), fc.constantFrom("é.x", "y".repeat(256)));
    const op = fc.tuple(fc.constantFrom("add", "delete"), key, fc.nat());
    fc.assert(
      fc.property(fc.array(op, { minLength: 200, maxLength: 1500 }), (ops) => {
        const model = new Map<string, number>();
        const set = new KeySet(sizes);
        for (const [what, k, v] of ops) {
          if (what === "add") {
            expect(set.add(k, v)).toBe(!model.has(k));
            model.set(k, v >>> 0);
          } else expect(set.delete(k)).toBe(model.delete(k));
        }
        for (const [k, v] of model) expect(set.get(k)).toBe(v);
        expect(set.get("absent")).toBeUndefined();
        const listed = new Map<string, number>();
        set.forEach((k, v) => listed.set(k, v));
        expect(listed).toEqual(model);
        const sample = set.sample(10);
        expect(sample.length).toBe(Math.min(10, model.size));
        for (const [k, v] of sample) expect(model.get(k)).toBe(v);
      }),
      { numRuns: 20 },
    );
  });
});

describe("KeySet sizes", () => {
  it("refuses chunks too small for the longest key", () => {
    expect(() => new KeySet({ chunkBits: 7 })).toThrow(RangeError);
    expect(new KeySet({ chunkBits: 8 }).add("k".repeat(255))).toBe(true);
  });
});
