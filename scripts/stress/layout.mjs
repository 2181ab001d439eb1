// The stress run's shared-memory layout: word indexes into `ctl` (run-wide words) and
// into `slots` (one record of F words per started participant process, never reused),
// role ids and violation kinds. Imported by the parent and by every participant.

/** Seconds any single operation may take before it counts as a deadlock. */
export const OP_TIMEOUT = 20;
/** Seconds an activity may go without progress before the watchdog calls it a stall. */
export const STALL_SECONDS = 45;
/** Most messages a second a producer puts (the ledgers are sized from it). */
export const Q_RATE = 40_000;
export const MQ_RATE = 4_000;
/** Participant slots (every process started, replacements included). */
export const MAX_SLOTS = 16384;

// --- ctl words
export const PHASE = 0; // 0 running, 1 stopping
export const NEXT_SLOT = 1;
export const Q_NEXT = 2; // next message id for the mp.Queue
export const MQ_NEXT = 3; // next message id for the manager Queue
export const ROUND = 4; // the Condition handshake's round (even: side A's turn)
export const Q_CAP = 5;
export const MQ_CAP = 6;
/** Guarded counters: intent [slot+1, k, value], holder, total, and resolutions. */
export const COUNTERS = ['counterA', 'counterB', 'managerDict', 'condRound'];
export const CA = 0; // mp.Value('i') under its own getLock() (an RLock)
export const CB = 1; // mp.RawValue('i') under an mp.Lock
export const CM = 2; // a manager dict's 'count' under a manager Lock
export const CC = 3; // ctl[ROUND] under the Condition's lock
export const INTENT = 8; // + 3 * c: slot+1, k, value
export const HOLDER = 20; // + c: slot+1 of the process inside the critical section
export const TOTAL = 24; // + c: the counter's value as of the last commit
export const RES_APPLIED = 28; // + c: dead holder's write had landed, logged for it
export const RES_NOT_APPLIED = 32; // + c: dead holder died before its write
export const RES_LOGGED = 36; // + c: dead holder had logged already
export const AFTER_DEAD = 40; // + c: entries that found a dead process's holder mark
export const Q_LAST_GOT = 44; // 1 + the id a queue consumer got last (0: none yet)
export const MQ_LAST_GOT = 45;
export const VIOLATIONS = 48; // + kind
export const CTL_WORDS = 64;

export const KINDS = [
  'deadlock', // an operation timed out
  'duplicate', // a message received twice
  'lost', // a fully-put message never received (beyond the accounted in-flight ones)
  'corrupt', // a message whose content is wrong
  'phantom', // a message received that was never put
  'order', // a producer's messages out of order
  'counter', // a guarded counter off, or two processes inside one critical section
  'pool', // a wrong pool result, or a task failing other than by its worker's kill
  'pipe', // a ping-pong reply wrong, or EOF without a killed peer
  'error', // an unexpected error thrown
  'exit', // a participant exited in a way it should not
  'stall', // an activity made no progress for STALL_SECONDS
];
export const V = Object.fromEntries(KINDS.map((k, i) => [k, i]));

// --- slot fields
export const F = 32;
export const ROLE = 0;
export const PID = 1;
export const READY = 2; // run() started (its args, pipe ends included, are adopted)
export const KILLED = 3; // signal number the chaos loop sent
export const PIPE_END = 4; // why a pipe member stopped: see PIPE_ENDS
export const PEER = 5; // slot+1 of the pipe partner
export const Q_PUTS = 6;
export const Q_GETS = 7;
export const Q_TAKING = 8; // 1 between "about to get" and "recorded what get returned"
export const Q_LAST = 9; // (on a producer's slot) last id of it a consumer got, +1
export const MQ_PUTS = 10;
export const MQ_GETS = 11;
export const MQ_TAKING = 12;
export const MQ_LAST = 13;
export const PINGS = 14;
export const Q_AFTER = 15; // Q_LAST_GOT when this consumer began its current get
export const MQ_AFTER = 24;
export const N = 16; // + c: committed increments of guarded counter c by this process
export const OWNER_DIED = 20; // MP_OWNER_DIED warnings seen in this process
export const POOL_TASKS = 21;
export const VIOLATED = 22; // violations this process reported
export const DEAD = 23; // 1 once the parent saw it exit

export const PIPE_ENDS = ['', 'EOFError', 'EPIPE', 'peer died before adopting its end', 'bye'];

export const ROLES = ['', 'producer', 'consumer', 'pinger', 'ponger', 'mgrProducer', 'mgrConsumer', 'poolWorker'];
export const R = Object.fromEntries(ROLES.map((r, i) => [r, i]).filter(([r]) => r !== ''));

/** Deterministic payload of message `id`: sizes from a few bytes to past half a ring. */
export function payloadOf(id, big) {
  const sizes = [5, 40, 300, 1200, 7, 90, 5000, 16];
  const size = id % 997 === 0 ? big : sizes[id % sizes.length];
  return String.fromCharCode(97 + (id % 26)).repeat(size);
}

/** A pool task's expected result. */
export function poolResult(n) {
  let h = n | 0;
  for (let i = 0; i < 64; i++) h = (Math.imul(h ^ (h >>> 15), 2246822519) + i) | 0;
  return h;
}
