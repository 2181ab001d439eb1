// The run's summary: text for people, then one JSON line for programs.

const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
const list = (o) =>
  Object.entries(o)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

export function summarize(result, leaks, extra) {
  const violations = { ...result.violations };
  violations.leak = leaks.shm.length + leaks.processes.length;
  // The run process must end by itself once everything is closed (exit code 2 if not).
  violations.exit += extra.exitCode === 0 ? 0 : 1;
  const total = sum(violations);
  const ops = result.ops;
  const killed = result.processes.killed;
  const deadHolders = Object.fromEntries(
    Object.entries(result.locks.counters).map(([k, c]) => [k, c.deadHolders.writeLandedLoggedForIt + c.deadHolders.diedBeforeWrite + c.deadHolders.diedAfterLogging]),
  );
  const lines = [
    '',
    `stress summary: ${result.seconds} s (--minutes ${result.minutes}), seed ${result.seed}`,
    `  operations:      ${sum(ops)} (${list(ops)})`,
    `  processes:       started ${sum(result.processes.started)} (${list(result.processes.started)})`,
    `  killed:          ${killed.SIGKILL + killed.SIGTERM} (SIGKILL ${killed.SIGKILL}, SIGTERM ${killed.SIGTERM}; ${list(killed.byRole)})`,
    `  locks recovered: ${result.locks.ownerDiedRecoveries} MP_OWNER_DIED takeovers; holders killed mid-increment, settled exactly: ${list(deadHolders)}`,
    `  counters:        ${Object.entries(result.locks.counters)
      .map(([k, c]) => `${k} ${c.value} = ${c.logged} logged`)
      .join(', ')}`,
    `  pipe pairs:      members ended by ${list(result.pipeEnds)} (EOFError/EPIPE only after the peer died)`,
    `  lost in flight:  ${list(result.lostInFlight)} (consumers killed between get and recording it)`,
    `  messages:        ${Object.entries(result.queues)
      .map(
        ([k, q]) =>
          `${k} ${q.fullyPut} fully put, ${q.received} got; cut by the producer's kill: ${q.cutInPut} inside put, ` +
          `${q.cutBuffered} returned but still buffered in the producer (${q.cutReceived} of these got)`,
      )
      .join('; ')}`,
    `  leaks:           shm ${leaks.shm.length}, processes ${leaks.processes.length}` +
      (leaks.unattributed.length > 0 ? ` (${leaks.unattributed.length} new /dev/shm entries not seen mapped by this run; other programs used the library meanwhile)` : ''),
    `  peak /dev/shm:   ${extra.peakShm.entries} entries, ${(extra.peakShm.bytes / 2 ** 20).toFixed(1)} MiB of this run's segments at once`,
    `  deadlocks:       ${violations.deadlock} (timeouts), stalls ${violations.stall}`,
    `  violations:      ${total}${total > 0 ? ` (${list(Object.fromEntries(Object.entries(violations).filter(([, v]) => v > 0)))})` : ''}`,
  ];
  if (extra.exitCode !== 0) lines.push(`    the run process exited with code ${extra.exitCode} (see above)`);
  if (leaks.shm.length > 0) lines.push(`    leaked segments: ${leaks.shm.slice(0, 20).join(' ')}`);
  if (leaks.processes.length > 0) lines.push(`    leaked processes: ${leaks.processes.join(' ')}`);
  for (const d of result.details.slice(0, 30)) lines.push(`    ${d.split('\n')[0]}`);
  lines.push(total === 0 ? 'stress: PASS' : 'stress: FAIL');
  const json = {
    ok: total === 0,
    seed: result.seed,
    minutes: result.minutes,
    seconds: result.seconds,
    operations: sum(ops),
    ops,
    processesStarted: sum(result.processes.started),
    killed: { SIGKILL: killed.SIGKILL, SIGTERM: killed.SIGTERM },
    locksRecovered: result.locks.ownerDiedRecoveries,
    deadHoldersSettled: deadHolders,
    lostInFlight: result.lostInFlight,
    pipeEnds: result.pipeEnds,
    leaks: { shm: leaks.shm.length, processes: leaks.processes.length, unattributedShm: leaks.unattributed.length },
    deadlocks: violations.deadlock,
    violations: total,
    byKind: violations,
  };
  return { text: lines.join('\n'), json: JSON.stringify(json), ok: total === 0 };
}
