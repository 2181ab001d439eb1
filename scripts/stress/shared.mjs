// The shared objects of a run, made by the parent and passed to every participant: the
// ledgers (shared arrays), the queue, counters, locks, Condition and stop Event, and a
// manager with its Queue, dict and Lock.
import * as mp from 'multiprocessing';
import { CTL_WORDS, F, MAX_SLOTS, MQ_CAP, MQ_RATE, Q_CAP, Q_RATE } from './layout.mjs';

const clamp = (x, lo, hi) => Math.max(lo, Math.min(hi, Math.ceil(x)));

export async function createShared(minutes) {
  const seconds = minutes * 60;
  // Message ids: more than the paced producers can use in the time (1 byte each, twice).
  const qCap = clamp(seconds * Q_RATE * 1.1 + 100_000, 0, 2 ** 30);
  const mqCap = clamp(seconds * MQ_RATE * 1.1 + 10_000, 0, 2 ** 30);
  const ctl = mp.RawArray('i', CTL_WORDS);
  ctl[Q_CAP] = qCap;
  ctl[MQ_CAP] = mqCap;
  const S = {
    ctl,
    slots: mp.RawArray('i', MAX_SLOTS * F),
    qPut: mp.RawArray('B', qCap),
    qGot: mp.RawArray('B', qCap),
    mqPut: mp.RawArray('B', mqCap),
    mqGot: mp.RawArray('B', mqCap),
    q: new mp.Queue(500),
    reports: new mp.Queue(),
    ca: mp.Value('i', 0),
    cb: mp.RawValue('i', 0),
    lb: new mp.Lock(),
    cond: new mp.Condition(),
    stop: new mp.Event(),
  };
  const manager = await mp.Manager();
  const M = { mq: await manager.Queue(100), md: await manager.dict({ count: 0 }), ml: await manager.Lock() };
  return { S, M, manager };
}

/** Close what the parent holds (the manager is shut down by the caller). */
export function closeShared(S) {
  for (const x of [S.q, S.reports, S.ca, S.lb, S.cond, S.stop]) x.close?.();
}
