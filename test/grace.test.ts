import { describe, expect, it } from "vitest";
import { FreeIds } from "../src/lookup/grace.js";

/** The dataplane's grace periods, played by hand: a token is done once `passed` reaches it. */
function clock() {
  const c = {
    next: 1,
    passed: 0,
    graceStart: () => c.next++,
    graceDone: (t: number) => t <= c.passed,
  };
  return c;
}

describe("FreeIds", () => {
  it("hands a released id out again only after the grace period that began when it was released", () => {
    const c = clock();
    const ids = new FreeIds(c, 3);
    expect([ids.take(), ids.take(), ids.take()]).toEqual([0, 1, 2]);
    ids.release(1);
    ids.release(2);
    expect(ids.take(false)).toBeUndefined();
    c.passed = 1; // the workers passed a quiescent state after 1 went, not yet after 2
    expect(ids.take(false)).toBe(1);
    expect(ids.held).toBe(1);
    ids.give(0); // never published: free at once
    expect(ids.take(false)).toBe(0);
    c.passed = 2;
    expect(ids.take(false)).toBe(2);
    expect(ids.take(false)).toBeUndefined();
  });

  it("waits for the oldest held id only when none is free, and not for ever", () => {
    const c = clock();
    const ids = new FreeIds(c, 2, 30);
    expect([ids.take(), ids.take()]).toEqual([0, 1]);
    expect(ids.take()).toBeUndefined(); // nothing held: no wait
    ids.release(0);
    ids.release(1);
    // a worker that never moves on: the wait gives up after waitMs and 0 stays held
    const t0 = Date.now();
    expect(ids.take()).toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(ids.held).toBe(2);
    c.passed = 1;
    expect(ids.take()).toBe(0);
    expect(ids.held).toBe(1); // 1's period began after 0's
  });
});
