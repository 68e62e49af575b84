import cliProgress from "cli-progress";

/** Extra fields shown after the counter, e.g. `{ loss: 0.1234, lr: 1e-4 }`. */
export type ProgressFields = Record<string, number | string>;

export interface ProgressOptions {
  /** The value that means "done" (e.g. the total number of training steps). */
  total: number;
  /** Shown first on every line, e.g. "train". */
  label?: string;
  /**
   * What one step is, for the rate: "frame" shows "12.50 frame/s" (or "2.00 s/frame"). Default "it".
   * The rate is always shown: a caller should not pass its own rate as a field as well.
   */
  unit?: string;
  /** The value the bar starts from (e.g. the step a resumed run starts at); rates count from here. */
  start?: number;
  /** Where to draw; stderr by default, so stdout stays clean for JSON output. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Draw an animated bar (TTY) or print plain lines; defaults to whether the stream is a TTY. */
  tty?: boolean;
  /** Without a TTY, at most one plain line per this many milliseconds (default 10 s). */
  intervalMs?: number;
  /** Print nothing at all (e.g. in tests or with --quiet). */
  silent?: boolean;
  /** Clock in milliseconds (for tests). */
  now?: () => number;
}

/** Window over which the rate (and hence the ETA) is measured, so that a slow first step fades out. */
const RATE_WINDOW_MS = 30_000;

/**
 * A progress display with a counter, free-form fields (loss, lr, ...), rate and ETA. On a terminal it is
 * an animated cli-progress bar; otherwise (CI, logs piped to a file) it prints one plain line at most every
 * `intervalMs`, plus one at the end, so logs never flood.
 */
export class Progress {
  private readonly total: number;
  private readonly label: string;
  private readonly unit: string;
  private readonly stream: NodeJS.WritableStream;
  private readonly intervalMs: number;
  private readonly silent: boolean;
  private readonly now: () => number;
  private readonly bar: cliProgress.SingleBar | undefined;
  private readonly samples: { time: number; value: number }[] = [];
  private value: number;
  private fields: ProgressFields = {};
  private lastPlainLine = -Infinity;
  private lastPlainValue: number | undefined;
  private stopped = false;

  constructor(options: ProgressOptions) {
    this.total = options.total;
    this.label = options.label ?? "";
    this.unit = options.unit ?? "it";
    this.stream = options.stream ?? process.stderr;
    this.intervalMs = options.intervalMs ?? 10_000;
    this.silent = options.silent ?? false;
    this.now = options.now ?? (() => performance.now());
    this.value = options.start ?? 0;
    this.samples.push({ time: this.now(), value: this.value });
    const tty = options.tty ?? Boolean((this.stream as { isTTY?: boolean }).isTTY);
    if (!this.silent && tty) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.stream,
          format: (_options, params, payload: { text: string }) =>
            `${this.label ? this.label + " " : ""}${renderBar(params.progress, 24)} ${payload.text}`,
          hideCursor: false,
          clearOnComplete: false,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.total, this.value, { text: this.describe() });
    }
  }

  /** Moves the counter to `value` and replaces the shown fields. */
  update(value: number, fields: ProgressFields = {}): void {
    if (this.stopped) return;
    this.value = value;
    this.fields = fields;
    const time = this.now();
    this.samples.push({ time, value });
    while (this.samples.length > 2 && time - this.samples[1].time > RATE_WINDOW_MS) this.samples.shift();
    if (this.silent) return;
    if (this.bar) {
      this.bar.update(value, { text: this.describe() });
    } else if (time - this.lastPlainLine >= this.intervalMs) {
      this.lastPlainLine = time;
      this.lastPlainValue = value;
      this.stream.write(this.line() + "\n");
    }
  }

  /** Prints a message on its own line without garbling the bar (e.g. validation results). */
  log(message: string): void {
    if (this.silent) return;
    if (this.bar) {
      // cli-progress redraws the bar after this on the next update.
      this.stream.write("\r\x1b[K" + message + "\n");
      this.bar.update(this.value, { text: this.describe() });
    } else {
      this.stream.write(message + "\n");
    }
  }

  /** Steps per second over the recent window (0 until two updates have been seen). */
  rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const seconds = (last.time - first.time) / 1000;
    return seconds > 0 ? (last.value - first.value) / seconds : 0;
  }

  /** Estimated seconds to reach `total`, or undefined while the rate is unknown. */
  eta(): number | undefined {
    const rate = this.rate();
    return rate > 0 ? Math.max(0, (this.total - this.value) / rate) : undefined;
  }

  /** The plain one-line description used without a TTY (also handy for tests). */
  line(): string {
    return `${this.label ? this.label + " " : ""}${this.describe()}`;
  }

  /** Ends the display; a plain-line display prints its final state once more. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.silent) return;
    if (this.bar) {
      this.bar.update(this.value, { text: this.describe() });
      this.bar.stop();
    } else if (this.lastPlainValue !== this.value) {
      this.stream.write(this.line() + "\n");
    }
  }

  private describe(): string {
    const width = String(this.total).length;
    const percent = this.total > 0 ? Math.floor((100 * this.value) / this.total) : 100;
    const parts = [`${String(this.value).padStart(width)}/${this.total}`, `${String(percent).padStart(3)}%`];
    for (const [name, value] of Object.entries(this.fields)) parts.push(`${name}=${formatValue(value)}`);
    const rate = this.rate();
    if (rate > 0)
      parts.push(rate >= 1 ? `${rate.toFixed(2)} ${this.unit}/s` : `${(1 / rate).toFixed(2)} s/${this.unit}`);
    const eta = this.eta();
    parts.push(`eta ${eta === undefined ? "?" : formatDuration(eta)}`);
    return parts.join(" ");
  }
}

function renderBar(fraction: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return "\u2588".repeat(filled) + "\u2591".repeat(width - filled);
}

/** 4 significant digits; exponent notation for very small or large magnitudes (learning rates). */
export function formatValue(value: number | string): string {
  if (typeof value === "string") return value;
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(2);
  return value.toPrecision(4);
}

/** "45s", "4m05s", "2h03m". */
export function formatDuration(seconds: number): string {
  const total = Math.round(seconds);
  if (total < 60) return `${total}s`;
  if (total < 3600) return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, "0")}s`;
  return `${Math.floor(total / 3600)}h${String(Math.floor((total % 3600) / 60)).padStart(2, "0")}m`;
}
