/**
 * The RIB: best-route selection by administrative distance and age, fallback on withdrawal,
 * stale marks, distance changes and the per-group use counts.
 */
import { describe, expect, it } from "vitest";
import { Rib } from "../src/fib/rib.js";
import { parsePrefix } from "../src/lookup/prefix.js";

const P = parsePrefix("10.0.0.0/8");
const T = "10.0.0.0/8";

describe("Rib", () => {
  it("the lowest distance is best; ties go to the earlier route; changes are reported only when the best changes", () => {
    const r = new Rib();
    r.addSubfib("m.main");
    expect(r.set("m.main", T, P, "a", 100, "x")).toMatchObject({ nhg: "x", owner: "a" });
    expect(r.set("m.main", T, P, "b", 100, "y")).toBeNull(); // same distance, later: not best
    expect(r.set("m.main", T, P, "c", 50, "z")).toMatchObject({ nhg: "z", owner: "c" });
    expect(r.get("m.main", T)!.cands.map((c) => c.owner)).toEqual(["c", "a", "b"]);
    expect(r.delete("m.main", T, "a")).toBeNull(); // not the best
    expect(r.delete("m.main", T, "c")).toMatchObject({ nhg: "y", owner: "b" }); // falls back
    expect(r.delete("m.main", T, "b")).toMatchObject({ nhg: null, owner: null });
    expect(r.get("m.main", T)).toBeUndefined();
    expect(r.delete("m.main", T, "b")).toBeNull();
  });

  it("a replacement keeps its place and reports a changed group of the best route", () => {
    const r = new Rib();
    r.addSubfib("s");
    r.set("s", T, P, "a", 10, "x");
    r.set("s", T, P, "b", 10, "y");
    expect(r.set("s", T, P, "a", 10, "x2")).toMatchObject({ nhg: "x2", owner: "a" });
    expect(r.set("s", T, P, "b", 10, "y2")).toBeNull();
    expect(r.usesOf("x")).toBe(0);
    expect(r.usesOf("x2")).toBe(1);
    expect(r.usesOf("y2")).toBe(1);
  });

  it("stale marks: set by markStale, cleared by a re-add, listed by staleOf; distance changes reorder", () => {
    const r = new Rib();
    r.addSubfib("s");
    const Q = parsePrefix("10.1.0.0/16");
    r.set("s", T, P, "a", 100, "x");
    r.set("s", "10.1.0.0/16", Q, "a", 100, "x");
    r.set("s", T, P, "b", 90, "y");
    expect(r.markStale("a")).toBe(2);
    expect(r.countStale("a")).toBe(2);
    r.set("s", T, P, "a", 100, "x");
    expect(r.staleOf("a")).toEqual([["s", "10.1.0.0/16"]]);
    expect(r.count("a")).toBe(2);
    expect(r.setDistance("a", 80)).toEqual([expect.objectContaining({ text: T, owner: "a", nhg: "x" })]);
    r.dropSubfib("s");
    expect(r.count("a")).toBe(0);
    expect(r.usesOf("x")).toBe(0);
  });
});
