/**
 * The FIB model: tables, routes to refcounted weighted nexthop groups, and compilation into
 * native tries, including route changes made while a compile is running.
 */
import { describe, expect, it } from "vitest";
import { FibModel } from "../src/fib/fib.js";

function model(): FibModel {
  const m = new FibModel();
  m.groups.add(1, 4, [{ via: "192.0.2.1", port: "isp-a", weight: 1 }]);
  m.groups.add(2, 4, [
    { via: "198.51.100.1", port: "isp-b", weight: 3 },
    { via: "198.51.100.2", port: "isp-b", weight: 1 },
  ]);
  m.groups.add(3, 6, [{ via: "2001:db8::1", port: "isp-a", weight: 1 }]);
  return m;
}

describe("FIB model", () => {
  it("creates tables by id and family, with unique names", () => {
    const m = model();
    const a = m.createFib(10, 4, "isp-a");
    m.createFib(10, 6, "isp-a");
    expect(a.name).toBe("isp-a");
    expect(() => m.createFib(10, 4)).toThrow(/FIB 10 \(IPv4\) already exists/);
    expect(() => m.createFib(11, 4, "isp-a")).toThrow(/name "isp-a" is already used by FIB 10/);
    expect(() => m.createFib(-1, 4)).toThrow(RangeError);
    expect(() => m.createFib(1.5, 4)).toThrow(TypeError);
    expect(() => m.fib(99, 4)).toThrow(/FIB 99 \(IPv4\) does not exist/);
    expect(m.fibs()).toHaveLength(2);
  });

  it("refcounts groups: a used group cannot be deleted, its members change without touching routes", async () => {
    const m = model();
    const fib = m.createFib(1, 4);
    fib.addRoute("10.0.0.0/8", 2);
    fib.addRoute("10.1.0.0/16", 2);
    expect(m.groups.get(2)?.refs).toBe(2);
    expect(() => m.groups.delete(2)).toThrow(/nexthop group 2 is used by 2 routes/);
    await m.compile();
    m.groups.replace(2, [{ via: "198.51.100.9", port: "isp-b", weight: 1 }]);
    expect(m.resolve(1, "10.1.2.3")?.members).toEqual([{ via: "198.51.100.9", port: "isp-b", weight: 1 }]);
    expect(fib.addRoute("10.1.0.0/16", 1)).toBe(2); // move to another group
    expect(m.groups.get(2)?.refs).toBe(1);
    expect(m.groups.get(1)?.refs).toBe(1);
    fib.removeRoute("10.0.0.0/8");
    fib.removeRoute("10.1.0.0/16");
    m.groups.delete(2);
    expect(m.groups.get(2)).toBeUndefined();
  });

  it("rejects bad routes and groups without changing anything", () => {
    const m = model();
    const fib = m.createFib(1, 4);
    fib.addRoute("10.0.0.0/8", 1);
    const before = JSON.stringify([fib.routes(), m.groups.list()]);
    expect(() => fib.addRoute("10.0.0.0/8", 7)).toThrow(/nexthop group 7 does not exist/);
    expect(() => fib.addRoute("10.0.0.0/8", 3)).toThrow(/nexthop group 3 is IPv6, route is IPv4/);
    expect(() => fib.addRoute("10.0.0.1/8", 1)).toThrow(/host bits set/);
    expect(() => fib.addRoute("2001:db8::/32", 1)).toThrow(/IPv6, table is IPv4/);
    expect(() => fib.removeRoute("11.0.0.0/8")).toThrow(/FIB 1 \(IPv4\) has no route 11\.0\.0\.0\/8/);
    expect(() => m.groups.add(1, 4, [{ via: null, port: "x", weight: 1 }])).toThrow(/already exists/);
    expect(() => m.groups.add(4, 4, [])).toThrow(/at least one member/);
    expect(() => m.groups.add(4, 4, [{ via: "192.0.2.1", port: "a", weight: 0 }])).toThrow(/weight 0 out of range 1-65535/);
    expect(() => m.groups.add(4, 4, [{ via: "2001:db8::1", port: "a", weight: 1 }])).toThrow(/IPv6, table is IPv4/);
    expect(() => m.groups.add(4, 4, [{ via: "192.0.2.1", port: "a", weight: 1 }, { via: "192.0.2.1", port: "a", weight: 2 }])).toThrow(/duplicate/);
    expect(() => m.groups.replace(1, [{ via: "192.0.2.1", port: "", weight: 1 }])).toThrow(/port must be a non-empty string/);
    expect(JSON.stringify([fib.routes(), m.groups.list()])).toBe(before);
  });

  it("compiles off the event loop and keeps changes made during the compile", async () => {
    const m = model();
    const fib = m.createFib(1, 4);
    for (let i = 0; i < 20_000; i++) fib.addRoute(`10.${i >> 8}.${i & 255}.0/24`, i % 2 === 0 ? 1 : 2);
    expect(() => fib.lookup("10.0.0.1")).toThrow(/not compiled yet/);
    const compiling = fib.compile();
    fib.addRoute("172.16.0.0/12", 1); // during the build
    fib.removeRoute("10.0.1.0/24");
    fib.addRoute("10.0.2.0/24", 2); // replace
    await compiling;
    expect(fib.compiled).toBe(true);
    expect(fib.lookup("172.20.0.1")).toBe(1);
    expect(fib.lookup("10.0.1.1")).toBeNull();
    expect(fib.lookup("10.0.2.1")).toBe(2);
    expect(fib.lookup("10.0.3.1")).toBe(2);
    expect(fib.lookup("10.0.4.1")).toBe(1);
    expect(fib.stats().routes).toBe(20_000);
    // after compiling, changes apply at once
    fib.addRoute("10.0.1.0/24", 1);
    expect(fib.lookup("10.0.1.1")).toBe(1);
  });

  it("keeps IPv4 and IPv6 FIBs of one id apart", async () => {
    const m = model();
    m.createFib(5, 4).addRoute("0.0.0.0/0", 1);
    m.createFib(5, 6).addRoute("::/0", 3);
    await m.compile();
    expect(m.resolve(5, "8.8.8.8")?.id).toBe(1);
    expect(m.resolve(5, "2001:4860::8888")?.id).toBe(3);
    m.deleteFib(5, 4);
    expect(m.groups.get(1)?.refs).toBe(0);
    expect(() => m.resolve(5, "8.8.8.8")).toThrow(/does not exist/);
  });
});
