/**
 * The RIB: best-route selection by administrative distance and age, fallback on withdrawal,
 * stale marks, distance changes, per-owner counts and the per-group use counts.
 */
import { describe, expect, it } from "vitest";
import { Rib } from "../src/fib/rib.js";

const T = "10.0.0.0/8";

describe("Rib", () => {
  it("the lowest distance is best; ties go to the earlier route; changes are reported only when the best changes", () => {
    const r = new Rib();
    r.addSubfib("m.main");
    expect(r.set("m.main", T, "a", 100, "x")).toBe("x");
    expect(r.set("m.main", T, "b", 100, "y")).toBeUndefined(); // same distance, later: not best
    expect(r.set("m.main", T, "c", 50, "z")).toBe("z");
    expect(r.get("m.main", T)!.map((c) => c.owner)).toEqual(["c", "a", "b"]);
    expect(r.delete("m.main", T, "a")).toBeUndefined(); // not the best
    expect(r.delete("m.main", T, "c")).toBe("y"); // falls back
    expect(r.best("m.main", T)!.owner).toBe("b");
    expect(r.delete("m.main", T, "b")).toBeNull();
    expect(r.get("m.main", T)).toBeUndefined();
    expect(r.delete("m.main", T, "b")).toBeUndefined();
    expect(r.size("m.main")).toBe(0);
    expect(r.count("a") + r.count("b") + r.count("c")).toBe(0);
  });

  it("a replacement keeps its place and reports a changed group of the best route; an owner change with the same group is reported", () => {
    const r = new Rib();
    r.addSubfib("s");
    r.set("s", T, "a", 10, "x");
    r.set("s", T, "b", 10, "y");
    expect(r.set("s", T, "a", 10, "x2")).toBe("x2");
    expect(r.set("s", T, "b", 10, "y2")).toBeUndefined();
    expect(r.usesOf("x")).toBe(0);
    expect(r.usesOf("x2")).toBe(1);
    expect(r.usesOf("y2")).toBe(1);
    r.set("s", T, "b", 10, "x2");
    expect(r.delete("s", T, "a")).toBe("x2"); // same group, now b's
    expect(r.best("s", T)!.owner).toBe("b");
  });

  it("stale marks: set by markStale, cleared by a re-add, listed by staleOf; distance changes reorder", () => {
    const r = new Rib();
    r.addSubfib("s");
    r.set("s", T, "a", 100, "x");
    r.set("s", "10.1.0.0/16", "a", 100, "x");
    r.set("s", T, "b", 90, "y");
    expect(r.markStale("a")).toBe(2);
    expect(r.countStale("a")).toBe(2);
    r.set("s", T, "a", 100, "x");
    expect(r.countStale("a")).toBe(1);
    expect(r.staleOf("a")).toEqual([["s", "10.1.0.0/16"]]);
    expect(r.count("a")).toBe(2);
    const cs = r.setDistance("a", 80);
    expect([...cs.keys()]).toEqual(["s"]);
    expect(cs.get("s")!.texts).toEqual([T]);
    expect(cs.get("s")!.nhgs).toEqual(["x"]);
    expect(r.best("s", T)!.owner).toBe("a");
    r.markStaleOne("s", T, "b");
    expect(r.countStale("b")).toBe(1);
    r.dropSubfib("s");
    expect(r.count("a")).toBe(0);
    expect(r.countStale("a")).toBe(0);
    expect(r.countStale("b")).toBe(0);
    expect(r.usesOf("x")).toBe(0);
  });

  it("keeps every prefix apart and lists each by its text (IPv4 edges, IPv6)", () => {
    const r = new Rib();
    r.addSubfib("s");
    const texts = ["0.0.0.0/0", "128.0.0.0/1", "255.255.255.255/32", "10.0.0.0/8", "10.0.0.0/9", "10.128.0.0/9", "192.0.2.0/24", "192.0.3.0/24", "::/0", "2001:db8::/32", "2001:db8::/48"];
    texts.forEach((t, i) => r.set("s", t, "a", 100, `g${i}`));
    expect(r.size("s")).toBe(texts.length);
    texts.forEach((t, i) => expect(r.best("s", t)!.nhg).toBe(`g${i}`));
    expect(new Map([...r.bests("s")])).toEqual(new Map(texts.map((t, i) => [t, `g${i}`])));
    expect(r.best("s", "10.0.0.0/10")).toBeUndefined();
    expect(r.delete("s", "10.0.0.0/9", "a")).toBeNull();
    expect(r.best("s", "10.0.0.0/8")!.nhg).toBe("g3");
    expect(r.size("s")).toBe(texts.length - 1);
  });
});
