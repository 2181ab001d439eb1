// The mp.Pipe ping-pong pair (child-process targets). The pinger sends numbered pings of
// varied sizes, the ponger answers each; between round trips both do lock work (a
// Condition handshake step and counter increments). When one of the pair is killed the
// other must see EOFError (or EPIPE on a send) and stop; the parent then starts a new pair.
import * as mp from 'multiprocessing';
import { DEAD, OP_TIMEOUT, PID, PINGS, PIPE_END, R, READY, payloadOf } from './layout.mjs';
import { lockWork } from './locks.mjs';
import { Participant, isDead, sleep, within } from './participant.mjs';

const BIG = 100_000; // past the pipe's 64 KiB ring

/** A dying peer may still be exiting when its end is seen closed: give it a moment. */
async function peerGone(p, peer) {
  for (let i = 0; i < 20; i++) {
    if (isDead(p.of(peer, PID))) return true;
    await sleep(100);
  }
  return false;
}

/** End of the conversation: record why, and check that the peer is really gone. */
async function ended(p, peer, why) {
  p.set(PIPE_END, why);
  if (!(await peerGone(p, peer))) {
    p.violation('pipe', `${why === 1 ? 'EOFError' : 'EPIPE'} while the peer (slot ${peer}, pid ${p.of(peer, PID)}) is alive`);
  }
}

/** The next message, or undefined when the conversation is over (PIPE_END says why). */
async function receive(p, conn, peer, sync) {
  let deadline = Date.now() + OP_TIMEOUT * 1000;
  let sawDead = false;
  for (;;) {
    if (sync ? conn.pollSync(1) : await conn.poll(1)) {
      try {
        return sync ? conn.recvSync() : await within(conn.recv(), OP_TIMEOUT, 'Connection.recv');
      } catch (err) {
        if (!(err instanceof mp.EOFError)) throw err;
        await ended(p, peer, 1);
        return undefined;
      }
    }
    if (!sawDead && p.of(peer, DEAD) === 1) {
      // Killed before it adopted its end: the end stays held for the handle in transit
      // (60 s), so no EOFError can come soon. Nothing to check; stop.
      if (p.of(peer, READY) === 0) {
        p.set(PIPE_END, 3);
        return undefined;
      }
      sawDead = true;
      deadline = Date.now() + OP_TIMEOUT * 1000;
    }
    if (Date.now() > deadline) {
      p.violation('deadlock', `pipe: no message ${sawDead ? 'and no EOFError after the peer died' : 'from a live peer'} in ${OP_TIMEOUT} s`);
      return undefined;
    }
  }
}

/** Send; false when the peer is gone (EPIPE). */
async function send(p, conn, peer, value, sync) {
  try {
    if (sync) conn.sendSync(value);
    else await within(conn.send(value), OP_TIMEOUT, 'Connection.send');
    return true;
  } catch (err) {
    if (err?.code !== 'EPIPE') throw err;
    await ended(p, peer, 2);
    return false;
  }
}

export async function pinger(S, slot, peer, conn) {
  const p = new Participant(S, slot, R.pinger);
  await p.run(async () => {
    for (let n = 1; !p.stopping(); n++) {
      const sync = n % 2 === 0;
      const payload = payloadOf(n, BIG);
      if (!(await send(p, conn, peer, { n, payload }, sync))) return;
      const reply = await receive(p, conn, peer, !sync);
      if (reply === undefined) return;
      if (reply?.n !== n || reply.length !== payload.length) {
        p.violation('pipe', `ping ${n} (${payload.length} chars) answered by ${JSON.stringify(reply).slice(0, 80)}`);
      }
      p.add(PINGS);
      await lockWork(p, 0, n);
    }
    await send(p, conn, peer, 'bye', false);
  });
}

export async function ponger(S, slot, peer, conn) {
  const p = new Participant(S, slot, R.ponger);
  await p.run(async () => {
    for (let n = 1; ; n++) {
      const m = await receive(p, conn, peer, n % 2 === 0);
      if (m === undefined) return;
      if (m === 'bye') {
        p.set(PIPE_END, 4);
        return;
      }
      if (m?.n !== n || m.payload !== payloadOf(n, BIG)) {
        p.violation('pipe', `expected ping ${n}, got ${JSON.stringify({ n: m?.n, length: m?.payload?.length })}`);
      }
      if (!(await send(p, conn, peer, { n: m?.n, length: m?.payload?.length }, n % 2 === 1))) return;
      await lockWork(p, 1, n);
    }
  });
}
