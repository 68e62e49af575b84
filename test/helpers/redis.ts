/**
 * A throwaway Debian `redis-server` for tests: loopback only, a free port, no persistence (no RDB save
 * points, no AOF); `restart` stops it with SHUTDOWN SAVE (one explicit snapshot into its temporary
 * folder) and starts it again from that snapshot, as an operator's restart would keep the queue.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0;

export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (saving a snapshot first), waits `downMs`, starts it again. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** A port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Resolves once something accepts connections on the port. */
async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });

/** Starts a server; with `password`, clients must authenticate (requirepass). */
export async function startRedis(options: { password?: string } = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), "vidseg-redis-"));
  const port = await freePort();
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--maxmemory-policy",
    "noeviction",
    ...(options.password ? ["--requirepass", options.password] : []),
  ];
  let server: ChildProcess;
  const start = async () => {
    server = spawn("redis-server", args, { stdio: "ignore" });
    await waitForPort(port);
  };
  const shutdown = async () => {
    const auth = options.password ? ["--no-auth-warning", "-a", options.password] : [];
    spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...auth, "shutdown", "save"]);
    server.kill("SIGTERM");
    await exited(server);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart(downMs) {
      await shutdown();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
    async stop() {
      server.kill("SIGKILL");
      await exited(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
