// The final account, once every participant is gone: each guarded counter equals the
// sum of the increments its holders logged (a dead holder's last one settled from the
// counter itself), and each queue's messages are all accounted for.
import { settle } from './counter.mjs';
import { AFTER_DEAD, CA, CB, CC, CM, COUNTERS, F, N, NEXT_SLOT, R, RES_APPLIED, RES_LOGGED, RES_NOT_APPLIED, ROLE, ROUND, TOTAL } from './layout.mjs';
import { MANAGER_QUEUE, QUEUE, settleMessages } from './ledger.mjs';
import { within } from './participant.mjs';

function slotsOf(S, role) {
  const out = [];
  const n = Atomics.load(S.ctl, NEXT_SLOT);
  for (let s = 0; s < n; s++) if (S.slots[s * F + ROLE] === role) out.push(s);
  return out;
}

function logged(S, c) {
  let sum = 0;
  const n = Atomics.load(S.ctl, NEXT_SLOT);
  for (let s = 0; s < n; s++) sum += S.slots[s * F + N + c];
  return sum;
}

async function counterValue(S, M, c) {
  if (c === CA) return S.ca.value;
  if (c === CB) return S.cb.value;
  if (c === CC) return Atomics.load(S.ctl, ROUND);
  return within(M.md.get('count'), 30, "manager dict.get('count')");
}

export async function verify(S, M, findings) {
  const counters = {};
  for (const c of [CA, CB, CM, CC]) {
    const value = await counterValue(S, M, c);
    const problem = settle(S.ctl, S.slots, c, value);
    if (problem !== null) findings.add('counter', problem);
    const sum = logged(S, c);
    if (value !== sum) findings.add('counter', `${COUNTERS[c]} is ${value}, but its holders logged ${sum} increments`);
    if (value !== Atomics.load(S.ctl, TOTAL + c)) findings.add('counter', `${COUNTERS[c]} is ${value}, its last commit said ${S.ctl[TOTAL + c]}`);
    counters[COUNTERS[c]] = {
      value,
      logged: sum,
      deadHolders: {
        enteredAfter: S.ctl[AFTER_DEAD + c],
        writeLandedLoggedForIt: S.ctl[RES_APPLIED + c],
        diedBeforeWrite: S.ctl[RES_NOT_APPLIED + c],
        diedAfterLogging: S.ctl[RES_LOGGED + c],
      },
    };
  }
  const queues = {};
  for (const [L, role] of [
    [QUEUE, R.consumer],
    [MANAGER_QUEUE, R.mgrConsumer],
  ]) {
    const { problems, ...account } = settleMessages(S, L, slotsOf(S, role));
    for (const [kind, detail] of problems) findings.add(kind, detail);
    queues[L.name] = account;
  }
  if (!S.q.empty()) findings.add('lost', 'queue: messages left in the queue after its consumer took the end sentinel');
  const left = await within(M.mq.qsize(), 30, 'manager Queue.qsize');
  if (left !== 0) findings.add('lost', `managerQueue: ${left} messages left after its consumer took the end sentinel`);
  return { counters, queues };
}
