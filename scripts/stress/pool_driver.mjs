// Keeps a few pool tasks in flight and checks each: the right result, or WorkerLostError
// naming a worker the chaos loop signalled (with that signal); anything else, or no
// answer in time, is a violation.
import * as mp from 'multiprocessing';
import { OP_TIMEOUT, poolResult } from './layout.mjs';

const TASK = { module: new URL('./pool_roles.mjs', import.meta.url).href, name: 'poolTask' };
const INIT = { module: new URL('./pool_roles.mjs', import.meta.url).href, name: 'poolInit' };
/** A task may wait for a replacement worker and queue behind others: be generous. */
const TASK_TIMEOUT = OP_TIMEOUT * 3;

export function createPool(S, processes) {
  return new mp.Pool({ processes, initializer: INIT, initargs: [S] });
}

export class PoolDriver {
  constructor(pool, chaos, findings) {
    this.pool = pool;
    this.chaos = chaos;
    this.findings = findings;
    this.next = 0;
    this.ok = 0;
    this.lost = 0;
    this.stopped = false;
  }

  start(lanes) {
    this.done = Promise.all(Array.from({ length: lanes }, () => this.lane()));
  }

  async stop() {
    this.stopped = true;
    await this.done;
  }

  async lane() {
    while (!this.stopped) await this.one(this.next++);
  }

  async one(n) {
    let value;
    try {
      value = await this.pool.applyAsync(TASK, [n]).get(TASK_TIMEOUT);
    } catch (err) {
      this.failed(n, err);
      return;
    }
    if (value?.n !== n || value.r !== poolResult(n)) {
      this.findings.add('pool', `task ${n} returned ${JSON.stringify(value)}, expected r = ${poolResult(n)}`);
    } else this.ok++;
  }

  failed(n, err) {
    if (err instanceof mp.TimeoutError) {
      this.findings.add('deadlock', `pool task ${n}: no result in ${TASK_TIMEOUT} s`);
      return;
    }
    if (err instanceof mp.WorkerLostError) {
      const pid = Number(/\(pid (\d+)\)/.exec(err.message)?.[1]);
      const sent = this.chaos.signalled.get(pid);
      if (sent !== undefined && (err.signal === sent || err.exitcode === 0)) {
        this.lost++;
        return;
      }
      this.findings.add('pool', `task ${n}: ${err.message} (signal ${err.signal}), but the chaos loop sent ${sent ?? 'nothing'} to pid ${pid}`);
      return;
    }
    this.findings.add('pool', `task ${n} failed: ${err?.stack ?? err}`);
  }
}
