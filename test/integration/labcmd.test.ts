/**
 * `srcfib lab`, the README's main job, as a user runs it: the report must say PASS, and an
 * interrupt (Ctrl-C) while it is left running must remove every namespace it made.
 *
 * Needs root; without it the test fails and says so.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

function namespaces(): string[] {
  return spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").map((l) => l.split(" ")[0] ?? "").filter((n) => n.length > 0);
}

describe("srcfib lab", () => {
  it("reports PASS and cleans up when interrupted", async () => {
    if (process.getuid?.() !== 0) throw new Error("srcfib lab builds network namespaces: run the integration tests as root (CI does)");
    const dir = mkdtempSync(join(tmpdir(), "srcfib-labcmd-"));
    const json = join(dir, "report.json");
    const child = spawn(process.execPath, [join(root, "dist", "cli.js"), "lab", "--keep", "--json", json], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    try {
      const t0 = Date.now();
      while (!out.includes("left running") && child.exitCode === null && Date.now() - t0 < 150000) await new Promise((r) => setTimeout(r, 200));
      expect(out, out).toContain("left running");
      expect(out).toMatch(/result: PASS/);
      expect(out).toMatch(/\| replies from addr\(A\), IPv4 \| via-a \| \d+ \| \d+ \| \d+ \| 20\/20 \|/);
      const report = JSON.parse(readFileSync(json, "utf8")) as { pass: boolean; dstOnly: { received: number } };
      expect(report.pass).toBe(true);
      expect(report.dstOnly.received).toBe(0);
      const prefix = `sf${child.pid! % 100000}-`;
      expect(namespaces().filter((n) => n.startsWith(prefix))).toHaveLength(5);
      child.kill("SIGINT");
      expect(await exited).toBe(130);
      expect(namespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
      expect(out).toContain("interrupted, cleaning up");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
