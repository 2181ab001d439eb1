// What the three processes of the forkserver start method share: the layout of the
// segment, the slot states and the environment variables. Kept free of imports, so a
// warm child (bootstrap.ts) loads nothing else for it.
//
// The segment (made by the parent, mapped by the server and every warm child):
//
//   header, HEADER_WORDS 32-bit words:
//     READY_GEN  bumped by a warm child when it posts itself ready (a parent waiting in
//                start() sleeps on it); also by the server when it goes
//     EVENTS     bumped by the parent on every claim and before it sleeps (the server
//                sleeps on it: its cue to grow the pool and refill)
//     GONE       set by the server as it exits
//     WAITING    parents sleeping in start() until a warm child is ready
//   SLOTS slot headers, SLOT_WORDS each: STATE, PID, LEN (bytes of the job in the mailbox)
//   SLOTS mailboxes of MAILBOX_BYTES: the job (v8.serialize) the parent writes for the
//   child of that slot.
//
// A slot belongs to one warm child from boot until the server takes it back. Who moves it:
//
//   FREE -> BOOTING               server, when it starts a warm child for the slot
//   BOOTING -> READY              the child, once loaded (PID written first)
//   READY -> CLAIMED              a parent's start(), by compareExchange
//   CLAIMED -> JOB | JOB_IPC      the parent: job in the mailbox / sent through the
//                                 server (too big for the mailbox)
//   JOB | JOB_IPC -> TAKEN        the child, once it copied the job out
//   READY -> RETIRED              server, shrinking the pool (compareExchange)
//   any -> FREE                   server, once the child is gone or has TAKEN its job
export const READY_GEN = 0;
export const EVENTS = 1;
export const GONE = 2;
export const WAITING = 3;
export const HEADER_WORDS = 8;

export const SLOTS = 32;
export const SLOT_WORDS = 4;
export const STATE = 0;
export const PID = 1;
export const LEN = 2;
export const MAILBOX_BYTES = 32 * 1024;

export const FREE = 0;
export const BOOTING = 1;
export const READY = 2;
export const CLAIMED = 3;
export const JOB = 4;
export const JOB_IPC = 5;
export const TAKEN = 6;
export const RETIRED = 7;

/** Word index of `field` of `slot`. */
export function slotWord(slot: number, field: number): number {
  return HEADER_WORDS + slot * SLOT_WORDS + field;
}

/** Byte offset of the mailbox of `slot`. */
export function mailboxOffset(slot: number): number {
  return 4 * (HEADER_WORDS + SLOTS * SLOT_WORDS) + slot * MAILBOX_BYTES;
}

export const SEGMENT_BYTES = mailboxOffset(SLOTS);

/** Environment of the server (deleted there before it starts children). */
export const SEGMENT_ENV = 'MP_FORKSERVER_SEGMENT';
/** Most warm processes the server keeps (also the user's knob: 1 to 16). */
export const POOL_ENV = 'MP_FORKSERVER_POOL';
export const OWNER_ENV = 'MP_FORKSERVER_OWNER';
/** Milliseconds without a start after which the pool halves toward its base (10 s). */
export const IDLE_ENV = 'MP_FORKSERVER_IDLE_MS';
/** The parent's entry module, argv and name, for what warm children preload. */
export const OWNER_INFO_ENV = 'MP_FORKSERVER_OWNER_INFO';
/** Environment of a warm child: "<server pid>:<slot>:<segment>". */
export const WARM_CHILD_ENV = 'MP_FORKSERVER_WARM';
/** Environment of a warm child: JSON list of module URLs to import before it is ready. */
export const PRELOAD_ENV = 'MP_FORKSERVER_PRELOAD';
/** Set to 1 to print timestamps of each step of a forkserver start on stderr. */
export const TRACE_ENV = 'MP_FORKSERVER_TRACE';

/** Messages from the server to the parent. */
export type ServerMessage = { t: 'exit'; pid: number; code: number };
/** Messages from the parent to the server. */
export type ParentMessage =
  | { t: 'job'; pid: number; data: Uint8Array }
  | { t: 'preload'; modules: string[] };
/** Messages from the server to a warm child. */
export type WarmMessage = { t: 'job'; data: Uint8Array };
/** Messages from a warm child to the server. */
export type WarmChildMessage = { t: 'ready' };

/** A trace function when TRACE_ENV is set (steps of a start, with a monotonic clock). */
export function tracer(role: string): ((step: string) => void) | null {
  if (process.env[TRACE_ENV] !== '1') return null;
  return (step) => {
    process.stderr.write(`mp-trace ${process.pid} ${role} ${step} ${process.hrtime.bigint()}\n`);
  };
}
