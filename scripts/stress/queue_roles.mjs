// The mp.Queue producer and consumer (child-process targets). Sync and async calls
// alternate; every call has a timeout, and running out of it is a deadlock.
import * as mp from 'multiprocessing';
import { OP_TIMEOUT, Q_RATE, R } from './layout.mjs';
import { FULLY_PUT, PUTTING, QUEUE, RETURNED, exhausted, message, nextId, received, taking } from './ledger.mjs';
import { Pacer, Participant, sleep, within } from './participant.mjs';

export async function producer(S, slot) {
  const p = new Participant(S, slot, R.producer);
  await p.run(async () => {
    const { q } = S;
    const put = S[QUEUE.put];
    // Ids whose put returned, oldest first; the last q.pendingPuts of them may still be
    // buffered in this process (not in the queue yet).
    const returned = [];
    const pacer = new Pacer(Q_RATE);
    const promote = (all) => {
      let inQueue = all ? returned.length : returned.length - q.pendingPuts;
      while (inQueue-- > 0) Atomics.store(put, returned.shift(), FULLY_PUT);
    };
    for (let i = 0; !p.stopping(); i++) {
      const id = nextId(p, QUEUE);
      if (id < 0) {
        await sleep(100);
        continue;
      }
      Atomics.store(put, id, PUTTING);
      const m = message(p, QUEUE, id);
      try {
        if (i % 2 === 0) q.putSync(m, { timeout: OP_TIMEOUT });
        else await q.put(m, { timeout: OP_TIMEOUT });
      } catch (err) {
        if (!(err instanceof mp.Full)) throw err;
        p.violation('deadlock', `queue put of ${id}: still Full after ${OP_TIMEOUT} s`);
        return;
      }
      Atomics.store(put, id, RETURNED);
      returned.push(id);
      promote(false);
      p.add(QUEUE.puts);
      await pacer.tick();
      // now and then let the consumer empty the queue (so it waits too), and let the loop turn
      if (i % 500 === 499) await sleep((id * 7) % 40);
      else if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
    }
    q.close();
    await within(q.joinThread(), OP_TIMEOUT, 'queue joinThread');
    promote(true);
  });
}

export async function consumer(S, slot) {
  const p = new Participant(S, slot, R.consumer);
  await p.run(async () => {
    const { q } = S;
    for (let i = 0; ; i++) {
      taking(p, QUEUE);
      let m;
      try {
        m = i % 2 === 0 ? q.getSync({ timeout: OP_TIMEOUT }) : await q.get({ timeout: OP_TIMEOUT });
      } catch (err) {
        p.set(QUEUE.taking, 0);
        if (!(err instanceof mp.Empty)) throw err;
        if (!exhausted(S, QUEUE)) p.violation('deadlock', `queue get: still Empty after ${OP_TIMEOUT} s`);
        continue;
      }
      if (m === null) {
        p.set(QUEUE.taking, 0);
        return; // the parent's end-of-run sentinel
      }
      received(p, QUEUE, m);
      p.set(QUEUE.taking, 0);
      p.add(QUEUE.gets);
      if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
    }
  });
}
