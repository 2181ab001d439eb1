// What a manager's server process runs (the target BaseManager.start() spawns): find the
// registered callables, run the initializer, listen, tell the parent the address, serve.
import type { Connection } from './connection.js';
import type { Address } from './listener.js';
import { errorToWire } from './manager_protocol.js';
import { Server, type TypeSpec } from './manager_server.js';
import { builtinSpec } from './manager_types.js';
import type { TypeRef } from './managers.js';
import { resolveTarget, type TargetRef } from './targets.js';

export interface ServerSpec {
  types: TypeRef[];
  address: Address | null;
  authkey: Uint8Array | null;
  maxMessageBytes: number;
  initializer: TargetRef | null;
  initargs: unknown[];
}

async function typeSpecs(refs: readonly TypeRef[]): Promise<Map<string, TypeSpec>> {
  const types = new Map<string, TypeSpec>();
  for (const r of refs) {
    if (r.make !== null && 'builtin' in r.make) {
      types.set(r.typeid, builtinSpec(r.typeid, r.make.builtin, r.methodToTypeid));
      continue;
    }
    const create = r.make === null ? null : ((await resolveTarget(r.make)) as TypeSpec['create']);
    types.set(r.typeid, { typeid: r.typeid, create, exposed: r.exposed, methodToTypeid: r.methodToTypeid, proxy: r.proxy });
  }
  return types;
}

export async function serveManager(spec: ServerSpec, ready: Connection): Promise<void> {
  let server: Server;
  try {
    const types = await typeSpecs(spec.types);
    if (spec.initializer !== null) await (await resolveTarget(spec.initializer))(...spec.initargs);
    server = new Server(types, {
      address: spec.address,
      authkey: spec.authkey === null ? null : Buffer.from(spec.authkey),
      maxMessageBytes: spec.maxMessageBytes,
    });
    await server.listening();
  } catch (err) {
    await ready.send({ error: errorToWire(err) });
    ready.close();
    return;
  }
  // Ctrl-C in a terminal reaches the whole process group: the parent decides when the
  // manager ends (as Python's server ignores SIGINT). SIGTERM (the parent exiting, or
  // terminate()) shuts down cleanly.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => server.shutdown());
  await ready.send({ address: server.address, server: server.id });
  ready.close();
  await server.serveForever();
}
