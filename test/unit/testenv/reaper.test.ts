import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("testenv reaper", () => {
  it("kills the components of an owner that dies by SIGKILL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podreg-reaper-"));
    const processTs = fileURLToPath(new URL("../../../testenv/process.ts", import.meta.url));
    // The owner starts a long-running component, prints its pid, then waits to be killed.
    const script = `
      const { Reaper, startComponent } = await import(${JSON.stringify(processTs)});
      const c = startComponent({ name: "sleeper", bin: "sleep", args: ["600"], logPath: ${JSON.stringify(join(dir, "s.log"))}, reaper: new Reaper() });
      console.log(c.proc.pid);
      setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const pid = await new Promise<number>((resolve, reject) => {
      owner.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
      owner.once("exit", () => reject(new Error("owner exited early")));
    });
    try {
      assert.ok(pid > 0 && alive(pid), "the component runs");
      owner.kill("SIGKILL");
      const deadline = Date.now() + 8000;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(alive(pid), false, "the reaper killed the orphaned component");
    } finally {
      if (alive(pid)) process.kill(pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
