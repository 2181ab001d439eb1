// The stress run itself (started by scripts/stress.mjs, which checks for leaks once this
// process and everything it started are gone). Sets up the shared objects, a manager and
// a pool, starts the participants and the chaos loop, stops everything after the given
// time, settles the accounts, and writes the result as JSON to --result.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import * as mp from 'multiprocessing';
import { Chaos, rng } from './chaos.mjs';
import { Findings } from './findings.mjs';
import { NEXT_SLOT, OP_TIMEOUT, VIOLATIONS } from './layout.mjs';
import { sleep, within } from './participant.mjs';
import { PoolDriver, createPool } from './pool_driver.mjs';
import { closeShared, createShared } from './shared.mjs';
import { Supervisor } from './supervisor.mjs';
import { Watchdog, pipeEnds, tally } from './tally.mjs';
import { verify } from './verify.mjs';

const POOL_WORKERS = 2;
const POOL_LANES = 4;

function progress(t0, S, chaos, driver) {
  const { ops } = tally(S);
  const s = Math.round((Date.now() - t0) / 1000);
  const kills = chaos.kills.SIGKILL + chaos.kills.SIGTERM;
  console.log(
    `[${String(s).padStart(4)} s] kills ${kills} | queue ${ops.queueGet} | pipe ${ops.pipeRoundTrip} | ` +
      `locks A ${ops.counterA} B ${ops.counterB} cond ${ops.conditionHandshake} | ` +
      `manager ${ops.managerQueueGet}/${ops.managerDictIncrement} | pool ${driver.ok} ok ${driver.lost} lost`,
  );
}

let supervisor = null;

/** For the diagnosis of a run process that does not end: the addon's pending async waits. */
function pendingWaits() {
  try {
    return createRequire(import.meta.url)('../../dist/native.js').native.pendingWaits();
  } catch (err) {
    return `unknown (${err.message})`;
  }
}

async function main() {
  const { values } = parseArgs({ options: { minutes: { type: 'string' }, seed: { type: 'string' }, result: { type: 'string' } } });
  const minutes = Number(values.minutes);
  const seed = Number(values.seed);
  const findings = new Findings();
  const t0 = Date.now();

  const { S, M, manager } = await createShared(minutes);
  supervisor = new Supervisor(S, M, findings);
  const chaos = new Chaos(S, supervisor, rng(seed));
  const pool = createPool(S, POOL_WORKERS);
  const driver = new PoolDriver(pool, chaos, findings);
  const watchdog = new Watchdog(S, findings);

  supervisor.startAll();
  driver.start(POOL_LANES);
  watchdog.start();
  chaos.start();
  const ticker = setInterval(() => progress(t0, S, chaos, driver), 10_000);
  await sleep(minutes * 60_000);

  // Stop: chaos first, then let every unit come back up, then end them in order.
  console.log('stopping: chaos off, participants finishing');
  await chaos.stop();
  if (!(await supervisor.settle(60))) findings.add('deadlock', 'the participants did not all come back up within 60 s of the chaos stopping');
  watchdog.stop();
  supervisor.stopping = true;
  S.stop.set();
  await supervisor.finish(['producer', 'pipePair', 'mgrProducer'], 60);
  await S.q.put(null, { timeout: OP_TIMEOUT });
  await within(M.mq.put(null, { timeout: OP_TIMEOUT }), OP_TIMEOUT + 10, 'manager Queue.put(null)');
  await supervisor.finish(['consumer', 'mgrConsumer'], 60);
  await driver.stop();
  pool.close();
  await within(pool.join(), 60, 'Pool.join').catch((err) => findings.add('deadlock', err.message));
  clearInterval(ticker);

  const account = await verify(S, M, findings);
  const { ops, ownerDied } = tally(S);
  const { poolTaskRun, ...otherOps } = ops;
  findings.merge(S.ctl, VIOLATIONS, S.reports);
  await within(manager.shutdown(), 30, 'manager.shutdown').catch((err) => findings.add('deadlock', err.message));
  const result = {
    seed,
    minutes,
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    ops: { ...otherOps, poolTaskOk: driver.ok, poolTaskLostWithWorker: driver.lost },
    pipeEnds: pipeEnds(S),
    processes: {
      started: { ...supervisor.started, poolWorker: Atomics.load(S.ctl, NEXT_SLOT) - Object.values(supervisor.started).reduce((a, b) => a + b, 0) },
      killed: { ...chaos.kills, byRole: chaos.byRole },
    },
    locks: { ownerDiedRecoveries: ownerDied, counters: account.counters },
    lostInFlight: Object.fromEntries(Object.entries(account.queues).map(([k, q]) => [k, q.lostInFlight])),
    queues: account.queues,
    violations: findings.counts,
    details: findings.details,
  };
  closeShared(S);
  writeFileSync(values.result, JSON.stringify(result));
  // Everything is closed: the process must now end by itself.
  setTimeout(() => {
    console.error(
      'stress: the run process did not exit 30 s after closing everything (something keeps its event loop alive: ' +
        `${process.getActiveResourcesInfo().join(', ')}; async waits pending in the addon: ${pendingWaits()}; live children: ${mp
          .activeChildren()
          .map((p) => `${p.name} (pid ${p.pid})`)
          .join(', ')})`,
    );
    process.exit(2);
  }, 30_000).unref();
}

if (mp.isMainModule(import.meta)) {
  main().catch((err) => {
    console.error('stress run failed:', err);
    supervisor?.killAll();
    process.exit(1);
  });
}
