// Message accounting for a queue, in shared memory. A producer takes a unique id, marks
// it PUTTING before the put, RETURNED when the put returned, FULLY_PUT once it is in the
// queue (a Queue put may return with the message still buffered in the producer,
// as Python's feeder thread does; killed then, it is lost with the producer). A consumer
// marks itself taking before a get (noting the last id got so far) and counts the id it
// got right after. So at the end each FULLY_PUT message was got exactly once, or a
// consumer was killed taking it: with one producer and one consumer at a time the queue
// holds ids in order, so the message a killed consumer was taking is the first one after
// the last id got before its get began.
import {
  F,
  KILLED,
  MQ_AFTER,
  MQ_CAP,
  MQ_GETS,
  MQ_LAST,
  MQ_LAST_GOT,
  MQ_NEXT,
  MQ_PUTS,
  MQ_TAKING,
  Q_AFTER,
  Q_CAP,
  Q_GETS,
  Q_LAST,
  Q_LAST_GOT,
  Q_NEXT,
  Q_PUTS,
  Q_TAKING,
} from './layout.mjs';
import { payloadOf } from './layout.mjs';

export const PUTTING = 1;
export const FULLY_PUT = 2;
export const RETURNED = 3;

export const QUEUE = {
  name: 'queue',
  put: 'qPut',
  got: 'qGot',
  next: Q_NEXT,
  cap: Q_CAP,
  puts: Q_PUTS,
  gets: Q_GETS,
  taking: Q_TAKING,
  last: Q_LAST,
  after: Q_AFTER,
  lastGot: Q_LAST_GOT,
  strictOrder: true,
  big: 200_000,
};
export const MANAGER_QUEUE = {
  name: 'managerQueue',
  put: 'mqPut',
  got: 'mqGot',
  next: MQ_NEXT,
  cap: MQ_CAP,
  puts: MQ_PUTS,
  gets: MQ_GETS,
  taking: MQ_TAKING,
  last: MQ_LAST,
  after: MQ_AFTER,
  lastGot: MQ_LAST_GOT,
  // A dead client's get may be served a little after its replacement's first ones.
  strictOrder: false,
  big: 150_000,
};

/** A fresh message id, or -1 when the ledger is full. */
export function nextId(p, L) {
  const id = Atomics.add(p.S.ctl, L.next, 1);
  return id < Atomics.load(p.S.ctl, L.cap) ? id : -1;
}

/** True once every id was handed out (producers then idle: an empty queue is no deadlock). */
export function exhausted(S, L) {
  return Atomics.load(S.ctl, L.next) >= Atomics.load(S.ctl, L.cap);
}

export function message(p, L, id) {
  return { id, slot: p.slot, payload: payloadOf(id, L.big) };
}

/** Before a get: say so, and what was got last. */
export function taking(p, L) {
  p.set(L.after, Atomics.load(p.S.ctl, L.lastGot));
  p.set(L.taking, 1);
}

/** Check and count what a get returned (the caller then clears its taking mark). */
export function received(p, L, m) {
  const { S } = p;
  if (m === null || typeof m !== 'object' || !Number.isInteger(m.id) || !Number.isInteger(m.slot)) {
    p.violation('corrupt', `${L.name}: got ${String(m).slice(0, 80)}`);
    return;
  }
  if (m.id < 0 || m.id >= Atomics.load(S.ctl, L.cap)) {
    p.violation('corrupt', `${L.name}: got id ${m.id}, out of range`);
    return;
  }
  if (m.payload !== payloadOf(m.id, L.big)) p.violation('corrupt', `${L.name}: message ${m.id}'s payload is wrong`);
  if (Atomics.add(S[L.got], m.id, 1) !== 0) p.violation('duplicate', `${L.name}: message ${m.id} got twice`);
  if (Atomics.load(S[L.put], m.id) === 0) p.violation('phantom', `${L.name}: message ${m.id} got but never put`);
  const lastAt = m.slot * F + L.last;
  if (m.id + 1 <= Atomics.load(S.slots, lastAt)) {
    p.violation('order', `${L.name}: message ${m.id} came after ${Atomics.load(S.slots, lastAt) - 1} from the same producer`);
  }
  Atomics.store(S.slots, lastAt, m.id + 1);
  Atomics.store(S.ctl, L.lastGot, m.id + 1);
}

/**
 * The final account of one queue, with every process gone. `consumers`: the slots of its
 * consumers. Returns counts and problems ([kind, detail]).
 */
export function settleMessages(S, L, consumers) {
  const put = S[L.put];
  const got = S[L.got];
  const n = Math.min(Atomics.load(S.ctl, L.next), Atomics.load(S.ctl, L.cap));
  const r = { ids: n, fullyPut: 0, received: 0, missing: 0, cutInPut: 0, cutBuffered: 0, cutReceived: 0, killedTaking: 0 };
  const problems = [];
  const missing = [];
  for (let id = 0; id < n; id++) {
    const state = put[id];
    const g = got[id];
    r.received += g;
    if (g > 1) problems.push(['duplicate', `${L.name}: message ${id} got ${g} times`]);
    if (state === FULLY_PUT) {
      r.fullyPut++;
      if (g === 0) missing.push(id);
    } else if (state === PUTTING || state === RETURNED) {
      // its producer was killed in the put, or after it returned with the message still
      // buffered in the producer: it may or may not have made it into the queue
      if (state === PUTTING) r.cutInPut++;
      else r.cutBuffered++;
      if (g > 0) r.cutReceived++;
    } else if (g > 0) problems.push(['phantom', `${L.name}: message ${id} got but never put`]);
  }
  // Each consumer killed while taking accounts for one missing message at most: the
  // first one in the queue after what was got before its get began.
  const unexplained = new Set(missing);
  let lostInFlight = 0;
  for (const slot of consumers) {
    if (S.slots[slot * F + KILLED] === 0 || S.slots[slot * F + L.taking] !== 1) continue;
    r.killedTaking++;
    let id = S.slots[slot * F + L.after];
    if (L.strictOrder) {
      while (id < n && got[id] === 0 && put[id] !== FULLY_PUT) id++;
    } else {
      while (id < n && !unexplained.has(id)) id++;
    }
    if (unexplained.delete(id)) lostInFlight++;
  }
  r.missing = missing.length;
  if (unexplained.size > 0) {
    const ids = [...unexplained];
    problems.push([
      'lost',
      `${L.name}: ${ids.length} fully-put messages never got and not explained by a consumer killed taking them (ids ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''}; ${r.killedTaking} consumers were killed while taking)`,
    ]);
  }
  return { ...r, lostInFlight, problems };
}
