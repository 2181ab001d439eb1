// The manager participants (child-process targets): a producer and a consumer on a
// manager Queue, each also incrementing the manager dict's counter under a manager Lock.
// `M` = { mq, md, ml }: the Queue, dict and Lock proxies.
import * as mp from 'multiprocessing';
import { MQ_RATE, OP_TIMEOUT, R } from './layout.mjs';
import { FULLY_PUT, MANAGER_QUEUE as L, PUTTING, exhausted, message, nextId, received, taking } from './ledger.mjs';
import { incrementManaged } from './locks.mjs';
import { Pacer, Participant, sleep, within } from './participant.mjs';

const LIMIT = OP_TIMEOUT + 10;

export async function mgrProducer(S, slot, M) {
  const p = new Participant(S, slot, R.mgrProducer);
  await p.run(async () => {
    const put = S[L.put];
    const pacer = new Pacer(MQ_RATE);
    for (let i = 0; !p.stopping(); i++) {
      if (i % 4 === 0) await incrementManaged(p, M);
      const id = nextId(p, L);
      if (id < 0) {
        await sleep(100);
        continue;
      }
      Atomics.store(put, id, PUTTING);
      try {
        await within(M.mq.put(message(p, L, id), { timeout: OP_TIMEOUT }), LIMIT, 'manager Queue.put');
      } catch (err) {
        if (!(err instanceof mp.Full)) throw err;
        p.violation('deadlock', `manager queue put of ${id}: still Full after ${OP_TIMEOUT} s`);
        return;
      }
      // The server answered: the message is in its queue.
      Atomics.store(put, id, FULLY_PUT);
      p.add(L.puts);
      await pacer.tick();
    }
  });
}

export async function mgrConsumer(S, slot, M) {
  const p = new Participant(S, slot, R.mgrConsumer);
  await p.run(async () => {
    for (let i = 0; ; i++) {
      if (i % 4 === 0) await incrementManaged(p, M);
      taking(p, L);
      let m;
      try {
        m = await within(M.mq.get({ timeout: OP_TIMEOUT }), LIMIT, 'manager Queue.get');
      } catch (err) {
        p.set(L.taking, 0);
        if (!(err instanceof mp.Empty)) throw err;
        if (!exhausted(S, L)) p.violation('deadlock', `manager queue get: still Empty after ${OP_TIMEOUT} s`);
        continue;
      }
      if (m === null) {
        p.set(L.taking, 0);
        return;
      }
      received(p, L, m);
      p.set(L.taking, 0);
      p.add(L.gets);
    }
  });
}
