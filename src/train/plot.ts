/** plot.html: a run's training loss and validation AP, drawn from its log.jsonl. */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/fs.js";

/** plot.html: the training loss and validation AP from log.jsonl as inline SVG (no dependencies). */
export async function writePlot(runDir: string): Promise<void> {
  const logPath = join(runDir, "log.jsonl");
  if (!existsSync(logPath)) return;
  const loss: [number, number][] = [];
  const ap: [number, number][] = [];
  for (const line of (await readFile(logPath, "utf8")).split("\n")) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as { type?: string; step?: number; loss?: number; AP?: number };
    if (entry.type === "train" && entry.step !== undefined && entry.loss !== undefined)
      loss.push([entry.step, entry.loss]);
    if (entry.type === "val" && entry.step !== undefined && entry.AP !== undefined)
      ap.push([entry.step, entry.AP]);
  }
  const chart = (title: string, points: [number, number][], colour: string): string => {
    if (points.length === 0) return `<p>${title}: no data</p>`;
    const [w, h, pad] = [640, 240, 40];
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
    const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys, 1e-9)];
    const px = (x: number) => pad + ((x - x0) / (x1 - x0)) * (w - 2 * pad);
    const py = (y: number) => h - pad - ((y - y0) / (y1 - y0)) * (h - 2 * pad);
    const path = points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    return (
      `<h2>${title}</h2><svg width="${w}" height="${h}" style="border:1px solid #ccc">` +
      `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${path}"/>` +
      `<text x="4" y="14" font-size="11">${y1.toPrecision(3)}</text><text x="4" y="${h - pad}" font-size="11">${y0.toPrecision(3)}</text>` +
      `<text x="${pad}" y="${h - 8}" font-size="11">step ${x0}</text><text x="${w - pad - 60}" y="${h - 8}" font-size="11">step ${x1}</text></svg>`
    );
  };
  const html =
    `<!doctype html><meta charset="utf-8"><title>vidseg training</title><body style="font-family:sans-serif">` +
    chart("training loss", loss, "#c03") +
    chart("validation AP", ap, "#06c") +
    `</body>\n`;
  await writeFileAtomic(join(runDir, "plot.html"), html);
}
