// The { progress } option of Pool.map/imap: a callback, or `true` for a bar on stderr
// (drawn only when stderr is a TTY; at most 10 redraws a second).

export type ProgressOption = true | ((done: number, total: number | undefined) => void);

export interface Progress {
  /** `n` more items are done. */
  add(n: number): void;
  /** The total became known (an iterable that ran out). */
  setTotal(total: number): void;
  end(): void;
}

const NONE: Progress = { add() {}, setTotal() {}, end() {} };

function seconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

class Bar implements Progress {
  private done = 0;
  private drawnAt = 0;
  private readonly started = performance.now();
  constructor(private total: number | undefined) {}

  add(n: number): void {
    this.done += n;
    const now = performance.now();
    if (now - this.drawnAt >= 100) this.draw(now);
  }

  setTotal(total: number): void {
    this.total = total;
  }

  private draw(now: number): void {
    this.drawnAt = now;
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const width = 30;
    let line: string;
    if (this.total !== undefined && this.total > 0) {
      const frac = Math.min(1, this.done / this.total);
      const filled = Math.round(frac * width);
      const eta = rate > 0 ? (this.total - this.done) / rate : Number.POSITIVE_INFINITY;
      line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${rate.toFixed(1)}/s ETA ${seconds(eta)}`;
    } else {
      line = `${this.done} done ${rate.toFixed(1)}/s`;
    }
    process.stderr.write(`\r${line}\x1b[K`);
  }

  end(): void {
    this.draw(performance.now());
    process.stderr.write('\n');
  }
}

class Callback implements Progress {
  private done = 0;
  constructor(
    private readonly fn: (done: number, total: number | undefined) => void,
    private total: number | undefined,
  ) {}
  add(n: number): void {
    this.done += n;
    this.fn(this.done, this.total);
  }
  setTotal(total: number): void {
    this.total = total;
  }
  end(): void {}
}

export function progressFor(option: unknown, total: number | undefined): Progress {
  if (option === undefined || option === null || option === false) return NONE;
  if (option === true) return process.stderr.isTTY ? new Bar(total) : NONE;
  if (typeof option === 'function') return new Callback(option as (done: number, total: number | undefined) => void, total);
  throw new TypeError('options.progress must be true or a function (done, total) => void');
}
