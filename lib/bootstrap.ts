// What a child runs first (dist/bootstrap.js is the script child_process.fork starts).
//
// It reads its job from the IPC channel, becomes the Process the job describes, imports
// the target's module (with the entry-module guard armed), runs run(), and exits with
// Python's exit codes: 0 when run() returns or its promise resolves; 1 after printing
// `Process <name>:` and the error when it throws, rejects, or an error goes uncaught;
// n for process.exit(n). Before exiting it ends its own children as Python's
// _exit_function does (daemons get SIGTERM, then all are joined); stray handles (a
// forgotten timer, an open socket) do not keep it alive.
//
// Kept lean on purpose: the library's entry (all shared types, the addon) is loaded only
// when the job needs it, since this runs once per started process. A forkserver's warm
// child gets its job from forkserver_child.ts (loaded only there) instead of its channel.
import { inspect } from 'node:util';
import { forceStartMethod } from './context.js';
import { flushBeforeExit } from './pending_writes.js';
import { adoptAsCurrent, currentProcess, endChildren, enterChild, importingTarget } from './process.js';
import { fromWire } from './reduction.js';
import type { ChildJob } from './spawn.js';
import { refModule, resolveInstance, resolveTarget, setMainModule } from './targets.js';

/** forkserver_shared.ts's tracer, inline: a spawned child loads nothing of the forkserver. */
const trace =
  process.env.MP_FORKSERVER_TRACE === '1'
    ? (step: string) => process.stderr.write(`mp-trace ${process.pid} child ${step} ${process.hrtime.bigint()}\n`)
    : null;

/** Our own diagnosis, printed as a message (its stack would only show the bootstrap). */
class ChildDiagnosis {
  constructor(readonly message: string) {}
}

function describeError(err: unknown): string {
  if (err instanceof ChildDiagnosis) return err.message;
  if (err instanceof Error) return inspect(err);
  return `Uncaught ${inspect(err)}`;
}

let exiting = false;

/** Print the failure as Python prints a child's traceback. */
function report(err: unknown): void {
  let name: string;
  try {
    name = currentProcess().name;
  } catch {
    name = '?';
  }
  process.stderr.write(`Process ${name}:\n${describeError(err)}\n`);
}

// The functions every job runs are wrapped in parentheses: V8 then compiles them when this
// file loads (in a warm child, long before its job) instead of on their first call.
const finish = (async function finish(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  try {
    await flushBeforeExit();
    await endChildren();
  } catch (err) {
    report(err);
    code = 1;
  }
  const userCode = process.exitCode;
  trace?.('exit');
  process.exit(code === 0 && typeof userCode === 'number' ? userCode : code);
});

let nativeApi: typeof import('./native.js').native | undefined;
/** SIGKILL's number, from node:os: required only where a parent-death signal is armed. */
let sigkill: number | undefined;

/**
 * Die with `watchPid` (the OS parent), even when it is SIGKILLed. Returns a function that
 * disarms it again (a warm forkserver child that gets a non-daemon job).
 */
function armParentDeath(watchPid: number): () => void {
  // Required once and kept: a forkserver zygote arms it before it forks, and each forked
  // child again, where even a cached require() cost ~13 page faults.
  const native = (nativeApi ??= (require('./native.js') as typeof import('./native.js')).native);
  const dead = () => native.getppid() !== watchPid;
  sigkill ??= (require('node:os') as typeof import('node:os')).constants.signals.SIGKILL;
  if (native.setParentDeathSignal(sigkill)) {
    // The parent may have died before the signal was armed: then nobody will send it.
    if (dead()) process.kill(process.pid, 'SIGKILL');
    // (Parenthesized: compiled with armParentDeath, not on its first call in each forked child.)
    return (function disarm() {
      native.setParentDeathSignal(0);
    });
  }
  // No parent-death signal on this OS: look every half second instead.
  const timer = setInterval(() => {
    if (dead()) process.kill(process.pid, 'SIGKILL');
  }, 500).unref();
  return () => clearInterval(timer);
}

const main = (async function main(job: ChildJob): Promise<void> {
  trace?.('main');
  process.argv = [process.argv[0]!, ...job.argv.slice(1)];
  if (job.cwd !== process.cwd()) {
    try {
      process.chdir(job.cwd);
    } catch {
      // the directory is gone: stay where the process started
    }
  }
  forceStartMethod(job.startMethod);
  if (job.mainModule !== undefined) setMainModule(job.mainModule);
  enterChild(job);
  if (job.daemon) armParentDeath(job.watchPid);

  process.on('uncaughtException', (err) => {
    if (exiting) return;
    report(err);
    void finish(1);
  });
  let running = true;
  // run() awaits a promise that nothing can settle any more (the loop ran dry).
  process.on('beforeExit', () => {
    if (!running || exiting) return;
    report(
      new ChildDiagnosis(
        'Error: run() returned a promise that never settled, and nothing is left that could settle it ' +
          '(no timer, socket or other pending work)',
      ),
    );
    void finish(1);
  });

  let code = 0;
  try {
    let instance: object | null = null;
    let target: unknown;
    if (job.instance !== null) {
      const ref = job.instance;
      instance = await importingTarget(refModule(ref), () => resolveInstance(ref));
    }
    if (job.target !== null) {
      const ref = job.target;
      target = ref.kind === 'source' ? await resolveTarget(ref) : await importingTarget(refModule(ref), () => resolveTarget(ref));
    }
    const own: Record<string, unknown> = {};
    for (const [key, ref] of Object.entries(job.methods ?? {})) {
      own[key] = await importingTarget(refModule(ref), () => resolveTarget(ref));
    }
    if (job.loadLibrary) require('./index.js'); // registers every shared type's reviver
    if (job.fields !== null) Object.assign(own, fromWire(job.fields));
    const args = fromWire(job.args) as unknown[];
    const self = adoptAsCurrent(instance, target, args);
    for (const [key, value] of Object.entries(own)) {
      Object.defineProperty(self, key, { value, writable: true, enumerable: true, configurable: true });
    }
    trace?.('resolved');
    await self.run();
    trace?.('ran');
  } catch (err) {
    report(err);
    code = 1;
  }
  running = false;
  await finish(code);
});

const onJob = (function onJob(job: ChildJob): void {
  // From here on the channel must not keep this process alive: it ends when run() does.
  process.channel?.unref();
  if (job === null || typeof job !== 'object' || job.v !== 1) {
    process.stderr.write('multiprocessing: this child got a job it does not understand (a different library version?)\n');
    process.exit(1);
  }
  void main(job);
});

// A forkserver's warm child (forkserver_shared.ts's WARM_CHILD_ENV, spelled out here for
// the same reason as the tracer).
const warmSpec = process.env.MP_FORKSERVER_WARM;
delete process.env.MP_FORKSERVER_WARM; // not for this process's own children
if (warmSpec !== undefined) {
  const { warm } = require('./forkserver_child.js') as typeof import('./forkserver_child.js');
  warm(warmSpec, { armParentDeath, onJob }).catch((err: unknown) => {
    // A bug (a server that goes kills its warm children first): no job can come now.
    process.stderr.write(`multiprocessing: a forkserver's warm process failed: ${describeError(err)}\n`);
    process.exit(1);
  });
} else {
  process.once('message', onJob);
}
