/**
 * `npm run fuzz -- --seconds N --seed S [--target NAME ...]`: fuzzes every parser and reader (see
 * test/fuzz/targets.ts), prints inputs tried and failures per target, saves failing inputs under
 * test/fuzz-regressions/ and exits 1 if there was any.
 */
import { parseArgs } from "node:util";
import { runFuzz } from "./run.js";
import { TARGETS } from "./targets.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    target: { type: "string", multiple: true },
  },
});
const seconds = Number(values.seconds);
const seed = Number(values.seed);
if (!(seconds > 0) || !Number.isInteger(seed)) {
  process.stderr.write("usage: npm run fuzz -- --seconds N --seed S [--target NAME ...]\n");
  process.exit(2);
}
const targets = values.target ?? TARGETS.map((t) => t.name);
process.stderr.write(`fuzzing ${targets.join(", ")}: ${seconds} s each, seed ${seed}\n`);
const reports = await runFuzz({ seconds, seed, targets, log: (line) => process.stderr.write(line + "\n") });
const rows = reports.map((r) => [
  r.target,
  r.skipped ? "skipped" : String(r.tried),
  String(r.accepted),
  String(r.rejected),
  String(r.failures.length),
]);
const header = ["target", "inputs", "accepted", "rejected", "failures"];
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
for (const row of [header, ...rows])
  process.stdout.write(row.map((cell, c) => cell.padEnd(widths[c])).join("  ") + "\n");
for (const r of reports)
  for (const failure of r.failures)
    process.stdout.write(
      `${r.target}: ${failure.message}${failure.file ? ` (saved: ${failure.file})` : ""}\n`,
    );
process.exitCode = reports.some((r) => r.failures.length > 0) ? 1 : 0;
