// What the three processes of the forkserver start method share: the layout of the
// segment, the slot states and the environment variables. Kept free of imports, so a
// warm child (bootstrap.ts) loads nothing else for it.
//
// The segment (made by the parent, mapped by the server and every warm child):
//
//   header, HEADER_WORDS 32-bit words:
//     READY_GEN  bumped by a warm child when it posts itself ready (a parent waiting in
//                start() sleeps on it); also by the server when it goes
//     EVENTS     bumped by the parent on every claim and before it sleeps, and by the
//                zygote when it forked or reaped (the server sleeps on it: its cue to
//                grow the pool, refill and report exits)
//     GONE       set by the server as it exits
//     WAITING    parents sleeping in start() until a warm child is ready
//     ZYGOTE_EVENTS  bumped by the server when it wants a fork, and by SIGCHLD in the
//                zygote (the zygote sleeps on it)
//     PRELOAD_GEN  bumped by the server for each preload list it sends the zygote, which
//                forks no child before it has imported as many lists
//     EXIT_HEAD, EXIT_TAIL  the exit ring: EXIT_CAP [pid, code] pairs at EXITS_AT, of
//                the zygote's children that ended (code as ringCode makes it); the zygote
//                writes at HEAD, the server reads at TAIL
//     CELLS      exit cells at CELLS_AT: the parent gives each job one (ChildJob.exitCell);
//                a forked child writes its pid at CELL_PIDS_AT + cell as it takes the
//                job, and the zygote, reaping that pid, writes EXITED | code in the cell:
//                a join ends without waiting for the server's report over IPC, which
//                comes only when the parent did not mark the cell WATCHED
//   SLOTS slot headers, SLOT_WORDS each: STATE, PID, LEN (bytes of the job in the mailbox)
//   SLOTS mailboxes of MAILBOX_BYTES: the job (v8.serialize) the parent writes for the
//   child of that slot.
//
// A slot belongs to one warm child from boot until the server takes it back. Who moves it:
//
//   FREE -> BOOTING               server, when it boots a warm child for the slot
//   FREE -> FORK                  server, when it asks the zygote for a warm child
//   FORK -> FREE                  zygote, when fork() failed
//   BOOTING | FORK -> READY       the child, once loaded (PID written first; the zygote
//                                 also writes the PID of a forked one)
//   READY -> CLAIMED              a parent's start(), by compareExchange
//   CLAIMED -> JOB | JOB_SHM      the parent: job in the mailbox / in a segment of its
//                                 own, whose name is in the mailbox (too big for it)
//   JOB | JOB_SHM -> TAKEN        the child, once it copied the job out
//   READY -> RETIRED              server, shrinking the pool (compareExchange)
//   any -> FREE                   server, once the child is gone or has TAKEN its job
export const READY_GEN = 0;
export const EVENTS = 1;
export const GONE = 2;
export const WAITING = 3;
export const ZYGOTE_EVENTS = 4;
// (word 5 unused)
export const EXIT_HEAD = 6;
export const EXIT_TAIL = 7;
export const PRELOAD_GEN = 8;
export const EXITS_AT = 16;
export const EXIT_CAP = 64;
export const CELLS_AT = EXITS_AT + 2 * EXIT_CAP;
export const CELLS = 256;
/** The pid of the child that holds each cell (written by the child as it takes its job). */
export const CELL_PIDS_AT = CELLS_AT + CELLS;
/** A cell's value once its child was reaped: EXITED | (exitcode & 0xffff), -N for signal N. */
export const EXITED = 0x10000;
/**
 * A cell's value from the parent's claim, when the parent watches the cell until the child
 * ends (a non-daemon child): its exit is then not reported over IPC as well. In the exit
 * ring, the same bit says the zygote found it set as it filled the cell.
 */
export const WATCHED = 0x20000;

/** An exit ring entry's code word: the exitcode in the low 16 bits, WATCHED if so. */
export function ringCode(code: number, watched: boolean): number {
  return (code & 0xffff) | (watched ? WATCHED : 0);
}
export const HEADER_WORDS = CELL_PIDS_AT + CELLS;

/** The exitcode in a cell's value (EXITED set). */
export function cellCode(value: number): number {
  return ((value & 0xffff) << 16) >> 16;
}

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
export const JOB_SHM = 5;
export const TAKEN = 6;
export const RETIRED = 7;
export const FORK = 8;

/** Word index of `field` of `slot`. */
export function slotWord(slot: number, field: number): number {
  return HEADER_WORDS + slot * SLOT_WORDS + field;
}

/**
 * Warm children ready to be claimed now. (Parenthesized: compiled when this file loads, in
 * the zygote too, whose forked children call it once each; see zygote.ts.)
 */
export const readyCount = (function readyCount(words: Int32Array): number {
  let ready = 0;
  for (let slot = 0; slot < SLOTS; slot++) if (Atomics.load(words, slotWord(slot, STATE)) === READY) ready++;
  return ready;
});

/**
 * Below this many ready warm children, the server is woken at once (by a start, or a
 * forked child posting itself ready) to refill; above, it learns at its next event (a
 * child's exit at the latest), which spares every start a wake of it.
 */
export const LOW_POOL = 2;

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
/** Environment of a warm child: "<server pid>:<slot>:<segment>"; slot "zygote" for the zygote. */
export const WARM_CHILD_ENV = 'MP_FORKSERVER_WARM';
/** Environment of a warm child: JSON list of module URLs to import before it is ready. */
export const PRELOAD_ENV = 'MP_FORKSERVER_PRELOAD';
/** Set to 0 to boot every warm child instead of forking it from a zygote (Linux). */
export const ZYGOTE_ENV = 'MP_FORKSERVER_ZYGOTE';

/**
 * The zygote's own Node flags, last on its command line (its children drop them from
 * execArgv for their own children; zygoteFlags in zygote.ts leaves out a --use-largepages
 * the program chose). V8 single-threaded: its background threads cannot cross a fork.
 * Node's code in large pages (silently skipped where the OS has none): a copy in anonymous memory,
 * which fork shares page table and all, so a forked child does not fault in the pages of
 * the node binary it runs one by one (-1 ms of CPU per child here). Builtins run where they
 * are, in those large pages: with short builtin calls V8 copies them (1.6 MB) into its code
 * range, in 4 KB anonymous pages that every fork copies the page table of and every exit
 * unmaps (-0.6 ms per start+join here, 3 pairs; the price is far calls to builtins, within
 * the noise of a builtin-heavy job's time here). zygoteFlags leaves out either where the
 * program chose its own value.
 */
export const ZYGOTE_FLAGS = ['--single-threaded', '--use-largepages=silent', '--no-short-builtin-calls'] as const;

/** Set to 1 to print timestamps of each step of a forkserver start on stderr. */
export const TRACE_ENV = 'MP_FORKSERVER_TRACE';

/** Messages from the server to the parent. */
export type ServerMessage = { t: 'exit'; pid: number; code: number };
/** Messages from the parent to the server, and from the server to its zygote. */
export type ParentMessage = { t: 'preload'; modules: string[] };
/**
 * Messages from a warm child to the server; from the zygote, once it takes requests and
 * after each preload list, with the number of lists it has imported, or once it found it
 * cannot fork safely any more (it stays, reaping its children).
 */
export type WarmChildMessage = { t: 'ready'; lists?: number } | { t: 'unfit' };

/** A trace function when TRACE_ENV is set (steps of a start, with a monotonic clock). */
export function tracer(role: string): ((step: string) => void) | null {
  if (process.env[TRACE_ENV] !== '1') return null;
  return (step) => {
    process.stderr.write(`mp-trace ${process.pid} ${role} ${step} ${process.hrtime.bigint()}\n`);
  };
}
