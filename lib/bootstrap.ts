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
// when the job needs it, since this runs once per started process.
import { constants as osConstants } from 'node:os';
import { inspect } from 'node:util';
import { forceStartMethod, WARM_ENV } from './context.js';
import { adoptAsCurrent, currentProcess, endChildren, enterChild, importingTarget } from './process.js';
import { fromWire } from './reduction.js';
import type { ChildJob } from './spawn.js';
import { type InstanceRef, resolveInstance, resolveTarget, setMainModule, type TargetRef } from './targets.js';

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

async function finish(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  try {
    await endChildren();
  } catch (err) {
    report(err);
    code = 1;
  }
  const userCode = process.exitCode;
  process.exit(code === 0 && typeof userCode === 'number' ? userCode : code);
}

/**
 * Die with `watchPid` (the OS parent), even when it is SIGKILLed. Returns a function that
 * disarms it again (a warm forkserver child that gets a non-daemon job).
 */
function armParentDeath(watchPid: number): () => void {
  const { native } = require('./native.js') as typeof import('./native.js');
  const dead = () => native.getppid() !== watchPid;
  if (native.setParentDeathSignal(osConstants.signals.SIGKILL)) {
    // The parent may have died before the signal was armed: then nobody will send it.
    if (dead()) process.kill(process.pid, 'SIGKILL');
    return () => native.setParentDeathSignal(0);
  }
  // No parent-death signal on this OS: look every half second instead.
  const timer = setInterval(() => {
    if (dead()) process.kill(process.pid, 'SIGKILL');
  }, 500).unref();
  return () => clearInterval(timer);
}

function moduleOf(ref: TargetRef | InstanceRef): string {
  if ('kind' in ref) {
    if (ref.kind === 'export') return ref.module;
    if (ref.kind === 'source') return 'its source';
  }
  return ref.candidates.join(' or ');
}

async function main(job: ChildJob): Promise<void> {
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
      instance = await importingTarget(moduleOf(ref), () => resolveInstance(ref));
    }
    if (job.target !== null) {
      const ref = job.target;
      target = ref.kind === 'source' ? await resolveTarget(ref) : await importingTarget(moduleOf(ref), () => resolveTarget(ref));
    }
    const own: Record<string, unknown> = {};
    for (const [key, ref] of Object.entries(job.methods ?? {})) {
      own[key] = await importingTarget(moduleOf(ref), () => resolveTarget(ref));
    }
    if (job.loadLibrary) require('./index.js'); // registers every shared type's reviver
    if (job.fields !== null) Object.assign(own, fromWire(job.fields));
    const args = fromWire(job.args) as unknown[];
    const self = adoptAsCurrent(instance, target, args);
    for (const [key, value] of Object.entries(own)) {
      Object.defineProperty(self, key, { value, writable: true, enumerable: true, configurable: true });
    }
    await self.run();
  } catch (err) {
    report(err);
    code = 1;
  }
  running = false;
  await finish(code);
}

function onJob(job: ChildJob): void {
  // From here on the channel must not keep this process alive: it ends when run() does.
  process.channel?.unref();
  if (job === null || typeof job !== 'object' || job.v !== 1) {
    process.stderr.write('multiprocessing: this child got a job it does not understand (a different library version?)\n');
    process.exit(1);
  }
  void main(job);
}

const server = Number(process.env[WARM_ENV]);
delete process.env[WARM_ENV]; // not for this process's own children
if (Number.isInteger(server) && server > 0) {
  // A forkserver's warm child: dies with the server until a job says otherwise, has the
  // whole library loaded before it is needed, and tells the server it is ready.
  const disarm = armParentDeath(server);
  process.once('message', (job: ChildJob) => {
    if (job?.daemon !== true) disarm();
    onJob(job);
  });
  // The ESM face of the library: loading it also readies the ESM loader (and any loader
  // hooks from execArgv), which a job's first import() would otherwise pay for.
  const esm = require('node:url').pathToFileURL(require('node:path').join(__dirname, 'index.mjs')).href as string;
  import(esm).then(
    () => process.send?.({ t: 'ready' }),
    () => process.send?.({ t: 'ready' }),
  );
} else {
  process.once('message', onJob);
}
