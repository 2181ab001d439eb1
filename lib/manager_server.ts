// The manager server (Python's managers.Server): holds the managed objects and runs
// their methods for the proxies of every connected client.
//
// One event loop serves all connections. A connection is read only after the authkey
// handshake succeeded (with a deadline, so a silent peer cannot hold a slot forever);
// after that its frames are pushed to us as they arrive. Anything malformed, oversized
// or undecodable closes that one connection; a client that stops reading its replies is
// dropped; the others never notice. A request can only create registered typeids and
// call the exposed methods of objects that exist: nothing in it is ever run as code.
//
// Reference counts are kept per connection, so a client that exits or is killed releases
// everything it held (Python's server leaks those). An object whose count reaches zero
// is freed after a grace period, which covers a proxy that is in transit to a child.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server as NetServer, type Socket, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { answerChallenge, deliverChallenge } from './auth.js';
import { Decoder, Encoder, revive } from './codec.js';
import { KeyError, ValueError } from './errors.js';
import { isThenable } from './iterables.js';
import type { Address } from './listener.js';
import { Caller, callAs } from './manager_caller.js';
import {
  ERROR,
  FAILED,
  PROXY,
  PROXY_KIND,
  RETURN,
  type ReplyKind,
  SpinPolicy,
  type Request,
  SERVER_OBJECT,
  type Token,
  errorToWire,
  isLocalAddress,
  isRequest,
  withRevivalContext,
} from './manager_protocol.js';
import { HANDLE_KIND, isShareable, toHandle, withNetworkTransport } from './reduction.js';
import { Scoped } from './scoped.js';
import { SocketConnection } from './socket_connection.js';
import { socketDir } from './socket_path.js';

/** How the server makes and exposes one typeid. */
export interface TypeSpec {
  readonly typeid: string;
  /** Makes the object (a class is constructed); null: the typeid only names a proxy type. */
  readonly create: ((...args: unknown[]) => unknown) | null;
  /** The methods proxies may call; null: the object's public methods. */
  readonly exposed: readonly string[] | null;
  /** Methods whose result is managed as a new object of the given typeid (a proxy goes back). */
  readonly methodToTypeid: Readonly<Record<string, string>>;
  /** The proxy class the client builds ('' for an AutoProxy). */
  readonly proxy: string;
}

export interface ServerOptions {
  address: Address | null;
  authkey: Buffer | null;
  /** The largest message accepted (and sent) in bytes. */
  maxMessageBytes: number;
  /** Seconds a new connection has to complete the authkey handshake. */
  handshakeTimeout?: number;
}

interface Meta {
  readonly typeid: string;
  readonly exposed: ReadonlySet<string>;
  readonly exposedList: readonly string[];
  readonly methodToTypeid: Readonly<Record<string, string>>;
  readonly proxy: string;
  id: number;
}

interface Entry {
  readonly obj: object;
  readonly meta: Meta;
  refs: number;
}

interface Client {
  readonly conn: SocketConnection;
  readonly caller: Caller;
  /** Not read from until its unread replies drain. */
  held: boolean;
  /** Object id -> references this connection holds. */
  readonly refs: Map<number, number>;
}

/** The grace period before an object no proxy holds is dropped (a proxy may be in transit). */
const FREE_AFTER_MS = 1000;
const GETVALUE = '#GETVALUE';
/** The only shared handles a request may carry: proxies (never a name of this machine's shared memory). */
const ONLY_PROXIES: ReadonlySet<string> = new Set([PROXY_KIND]);
/** Unread reply bytes a client may leave beyond one largest message before it is dropped. */
const UNREAD_SLACK = 16 * 1024 * 1024;

/** While a reply is encoded: the server and client whose tokens managed objects become. */
const encoding = new Scoped<{ server: Server; client: Client; retained: number[] } | null>(null);

/** A reply value: a new managed object, whose token is made (and counted) as the reply is encoded. */
class NewObject {
  constructor(readonly obj: object) {}
}

/** [toHandle] of a managed object: its token, counted as a reference of the receiving client. */
function managedHandle(this: object): Token {
  const e = encoding.value;
  if (e === null) throw new TypeError('a managed object can only be sent by its manager (send a proxy of it instead)');
  return e.server.tokenFor(this, e.client);
}

/** Public methods of an object: functions on it or its prototypes, no leading '_', no Sync forms. */
export function publicMethods(obj: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = obj; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === 'constructor' || name.startsWith('_') || name.endsWith('Sync')) continue;
      const d = Object.getOwnPropertyDescriptor(o, name);
      if (d !== undefined && typeof d.value === 'function') names.add(name);
    }
  }
  return [...names].sort();
}

/**
 * Made with `new`: classes, and built-in constructors (Map). Any other function is called,
 * as Python calls a registered callable (a factory function may return anything).
 */
function isConstructor(fn: (...args: unknown[]) => unknown): boolean {
  const source = Function.prototype.toString.call(fn);
  return /^class[\s{]/.test(source) || (/\{\s*\[native code\]\s*\}$/.test(source) && typeof fn.prototype === 'object');
}

/** A fresh socket address: an abstract one on Linux (no file to leak), else a private directory. */
function freshUnixAddress(): string {
  const name = `mp-manager-${randomBytes(8).toString('hex')}`;
  if (process.platform === 'linux') return `\0${name}`;
  return join(mkdtempSync(join(socketDir('mp-XXXXXX/'.length + name.length), 'mp-')), name);
}

/** A manager on a non-loopback address must have an authkey (an empty one counts as none). */
export function checkListenable(address: Address | null, key: Buffer | null): void {
  if (address !== null && !isLocalAddress(address) && (key === null || key.length === 0)) {
    throw new ValueError(
      `a manager listening on ${JSON.stringify(address)} (not a loopback address) needs an authkey: ` +
        'pass options.authkey (the same secret bytes on every client), or listen on 127.0.0.1',
    );
  }
}

export class Server {
  /** Random; tokens name their server by it. */
  readonly id = randomBytes(8).toString('hex');
  private readonly types: ReadonlyMap<string, TypeSpec>;
  private readonly options: ServerOptions;
  private readonly entries = new Map<number, Entry>();
  private readonly metas = new WeakMap<object, Meta>();
  private nextId = 1;
  private readonly clients = new Set<Client>();
  /** Connections still in the authkey handshake. */
  private readonly handshaking = new Set<SocketConnection>();
  private net: NetServer | null;
  private bound: Address;
  private readonly ready: Promise<void>;
  private readonly stopped: Promise<void>;
  private resolveStopped!: () => void;
  private readonly encoder = new Encoder();
  private readonly decoder = new Decoder();
  private readonly shutdownHooks: (() => void)[] = [];
  private readonly revival = { serverId: this.id, referent: (id: number) => this.referent(id) };

  constructor(types: ReadonlyMap<string, TypeSpec>, options: ServerOptions) {
    this.types = types;
    this.options = options;
    checkListenable(options.address, options.authkey);
    this.bound = options.address ?? freshUnixAddress();
    this.stopped = new Promise((r) => {
      this.resolveStopped = r;
    });
    const server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    this.net = server;
    const where = this.bound;
    this.ready = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const listening = () => {
        server.off('error', reject);
        server.on('error', () => {}); // after listening: per-connection errors are handled there
        const a = server.address();
        if (a !== null && typeof a === 'object') this.bound = [(where as readonly [string, number])[0], a.port];
        resolve();
      };
      if (typeof where === 'string') server.listen({ path: where, backlog: 128 }, listening);
      else server.listen({ host: where[0], port: where[1], backlog: 128 }, listening);
    });
    this.ready.catch(() => {});
  }

  /** Resolves once bound (address then holds the real port); rejects if it cannot listen. */
  listening(): Promise<void> {
    return this.ready;
  }

  get address(): Address {
    return this.bound;
  }

  /** Serve until shutdown() (or a client's shutdown request). */
  async serveForever(): Promise<void> {
    await this.ready;
    await this.stopped;
  }

  /** Run `fn` when the server shuts down (SharedMemoryManager unlinks its segments). */
  onShutdown(fn: () => void): void {
    this.shutdownHooks.push(fn);
  }

  /** Stop: no new connections, every client disconnected, every object dropped. Idempotent. */
  shutdown(): void {
    const server = this.net;
    if (server === null) return;
    this.net = null;
    server.close();
    for (const c of [...this.clients]) c.conn.close();
    for (const conn of this.handshaking) conn.close();
    this.handshaking.clear();
    // Objects that hold resources let go of them (SharedMemoryManager's segments).
    for (const { obj } of this.entries.values()) {
      const dispose = (obj as Partial<Disposable>)[Symbol.dispose];
      if (typeof dispose === 'function') this.shutdownHooks.push(() => dispose.call(obj));
    }
    for (const fn of this.shutdownHooks.splice(0)) {
      try {
        fn();
      } catch {
        // one hook's failure must not keep the others from running
      }
    }
    this.entries.clear();
    const where = this.bound;
    if (typeof where === 'string' && !where.startsWith('\0') && this.options.address === null) {
      rmSync(dirname(where), { recursive: true, force: true });
    }
    this.resolveStopped();
  }

  /** How many objects proxies hold (Python's number_of_objects). */
  numberOfObjects(): number {
    return this.entries.size;
  }

  // ------------------------------------------------------------------ connections

  private accept(socket: Socket): void {
    if (this.net === null) {
      socket.destroy();
      return;
    }
    const conn = new SocketConnection(socket);
    const key = this.options.authkey;
    const client: Client = { conn, caller: new Caller(), refs: new Map(), held: false };
    const start = () =>
      conn.stream(this.options.maxMessageBytes, {
        frame: (bytes) => this.onFrame(client, bytes),
        end: () => this.disconnect(client),
        // A client in a loop of calls sends the next one a few microseconds after our
        // reply: waiting for it here saves this process a sleep and a wake-up.
        spin: new SpinPolicy(),
      });
    if (key === null || key.length === 0) {
      this.clients.add(client);
      start();
      return;
    }
    const limit = setTimeout(() => conn.close(), (this.options.handshakeTimeout ?? 10) * 1000);
    limit.unref();
    this.handshaking.add(conn);
    (async () => {
      await deliverChallenge(conn, key);
      await answerChallenge(conn, key);
    })().then(
      () => {
        clearTimeout(limit);
        this.handshaking.delete(conn);
        if (this.net === null || conn.closed) {
          conn.close();
          return;
        }
        this.clients.add(client);
        start();
      },
      () => {
        // a wrong key, garbage or a hang-up: only this connection ends
        clearTimeout(limit);
        this.handshaking.delete(conn);
        conn.close();
      },
    );
  }

  private disconnect(client: Client): void {
    if (!this.clients.delete(client)) return;
    client.conn.close();
    client.caller.markGone();
    for (const [id, n] of client.refs) this.release(id, n);
    client.refs.clear();
  }

  private onFrame(client: Client, bytes: Buffer): void {
    if (bytes.length === 0 || (bytes[0] !== 1 && bytes[0] !== 2)) {
      client.conn.close();
      return;
    }
    let raw: unknown;
    let wire: boolean;
    try {
      raw = this.decoder.decode(bytes, 0, bytes.length);
      wire = this.decoder.wire;
    } catch {
      client.conn.close();
      return;
    }
    if (!isRequest(raw)) {
      client.conn.close();
      return;
    }
    let request: Request;
    try {
      request = withRevivalContext(this.revival, () => withNetworkTransport(() => revive(raw, wire), ONLY_PROXIES)) as Request;
    } catch (err) {
      this.reply(client, raw[0], FAILED, errorToWire(err));
      return;
    }
    this.dispatch(client, request);
  }

  // ------------------------------------------------------------------ requests

  private dispatch(client: Client, [requestId, objectId, method, args]: Request): void {
    if (objectId === SERVER_OBJECT) {
      this.serverRequest(client, requestId, method, args);
      return;
    }
    const entry = this.entries.get(objectId);
    if (entry === undefined) {
      this.reply(client, requestId, FAILED, errorToWire(new KeyError(`the manager has no object ${objectId} (no proxy holds it any more)`)));
      return;
    }
    if (method === GETVALUE) {
      this.run(client, requestId, entry.meta, () => snapshotOf(entry.obj, entry.meta));
      return;
    }
    if (!entry.meta.exposed.has(method)) {
      const error = new ValueError(
        `method '${method}' of the ${entry.meta.typeid} object is not exposed (exposed: ${entry.meta.exposedList.join(', ') || 'none'})`,
      );
      this.reply(client, requestId, FAILED, errorToWire(error));
      return;
    }
    const target = entry.obj as Record<string, (...a: unknown[]) => unknown>;
    this.run(client, requestId, entry.meta, () => target[method]!(...args), method);
  }

  /** Run one call for `client` and reply with its result, now or when its promise settles. */
  private run(client: Client, requestId: number, meta: Meta | null, call: () => unknown, method?: string): void {
    let result: unknown;
    try {
      result = callAs(client.caller, call);
    } catch (err) {
      this.reply(client, requestId, ERROR, errorToWire(err));
      return;
    }
    const typeid = method === undefined || meta === null || !Object.hasOwn(meta.methodToTypeid, method) ? undefined : meta.methodToTypeid[method];
    const finish = (value: unknown) => {
      if (typeid === undefined) {
        this.reply(client, requestId, RETURN, value);
        return;
      }
      this.replyNewObject(client, requestId, typeid, value);
    };
    if (isThenable(result)) {
      (result as Promise<unknown>).then(finish, (err: unknown) => this.reply(client, requestId, ERROR, errorToWire(err)));
    } else finish(result);
  }

  private serverRequest(client: Client, requestId: number, method: string, args: unknown[]): void {
    switch (method) {
      case 'hello':
        this.reply(client, requestId, RETURN, { server: this.id, maxMessageBytes: this.options.maxMessageBytes });
        return;
      case 'create': {
        const typeid = args[0];
        const spec = typeof typeid === 'string' ? this.types.get(typeid) : undefined;
        if (spec === undefined || spec.create === null) {
          const error = new ValueError(`the manager has no typeid ${JSON.stringify(typeid)} it can create (register it with a callable)`);
          this.reply(client, requestId, FAILED, errorToWire(error));
          return;
        }
        const make = spec.create;
        const rest = args.slice(1);
        let result: unknown;
        try {
          result = callAs(client.caller, () => (isConstructor(make) ? new (make as unknown as new (...a: unknown[]) => unknown)(...rest) : make(...rest)));
        } catch (err) {
          this.reply(client, requestId, ERROR, errorToWire(err));
          return;
        }
        if (isThenable(result)) {
          (result as Promise<unknown>).then(
            (v) => this.replyNewObject(client, requestId, spec.typeid, v),
            (err: unknown) => this.reply(client, requestId, ERROR, errorToWire(err)),
          );
        } else this.replyNewObject(client, requestId, spec.typeid, result);
        return;
      }
      case 'incref': {
        const id = args[0] as number;
        if (!this.entries.has(id)) {
          this.reply(client, requestId, FAILED, errorToWire(new KeyError(`the manager has no object ${String(id)} (it was freed before this proxy arrived)`)));
          return;
        }
        this.retain(client, id);
        this.reply(client, requestId, RETURN, null);
        return;
      }
      case 'decref': {
        const id = args[0] as number;
        const held = client.refs.get(id) ?? 0;
        if (held > 0) {
          if (held === 1) client.refs.delete(id);
          else client.refs.set(id, held - 1);
          this.release(id, 1);
        }
        this.reply(client, requestId, RETURN, null);
        return;
      }
      case 'numberOfObjects':
        this.reply(client, requestId, RETURN, this.entries.size);
        return;
      case 'dummy':
        this.reply(client, requestId, RETURN, null);
        return;
      case 'shutdown':
        this.reply(client, requestId, RETURN, null);
        setImmediate(() => this.shutdown());
        return;
      default: {
        const error = new ValueError(`unknown manager request '${method}'`);
        this.reply(client, requestId, FAILED, errorToWire(error));
        return;
      }
    }
  }

  private replyNewObject(client: Client, requestId: number, typeid: string, obj: unknown): void {
    if (obj === null || (typeof obj !== 'object' && typeof obj !== 'function')) {
      const error = new TypeError(`the callable of typeid '${typeid}' returned ${String(obj)}, not an object a proxy can refer to`);
      this.reply(client, requestId, ERROR, errorToWire(error));
      return;
    }
    this.adopt(obj, typeid);
    // The token is made inside the reply, so that it is counted only if it is sent.
    this.reply(client, requestId, PROXY, new NewObject(obj));
  }

  /** Whether a reply to `client` can still be sent (a gone client's references are already released). */
  private canReply(client: Client, requestId: number): boolean {
    return requestId !== 0 && !client.conn.closed && this.clients.has(client);
  }

  private reply(client: Client, requestId: number, kind: ReplyKind, value: unknown): void {
    if (!this.canReply(client, requestId)) return;
    // Tokens made while encoding (managed objects in the value) count references for this
    // client; they are given back if the reply cannot be sent after all.
    const retained: number[] = [];
    let n: number;
    try {
      n = encoding.run({ server: this, client, retained }, () => {
        const v = value instanceof NewObject ? this.tokenFor(value.obj, client) : value;
        return withNetworkTransport(() => this.encoder.encodeLength([requestId, kind, v]));
      });
    } catch (err) {
      this.giveBack(client, retained);
      this.reply(client, requestId, kind === RETURN ? ERROR : FAILED, errorToWire(unsendable(err)));
      return;
    }
    if (n > this.options.maxMessageBytes) {
      this.giveBack(client, retained);
      const error = new ValueError(`the result is ${n} bytes, over the manager's limit of ${this.options.maxMessageBytes} (maxMessageBytes)`);
      this.reply(client, requestId, ERROR, errorToWire(error));
      return;
    }
    try {
      const buffered = client.conn.sendQueued(this.encoder.bytes.subarray(0, n));
      // A client whose replies pile up unread is not read from until they drain:
      // backpressure, instead of buffering without end (or dropping a slow reader).
      if (buffered > this.options.maxMessageBytes + UNREAD_SLACK && !client.held) {
        client.held = true;
        client.conn.holdStream(true);
        client.conn.onDrain(() => {
          client.held = false;
          if (!client.conn.closed) client.conn.holdStream(false);
        });
      }
    } catch {
      client.conn.close();
    }
    this.encoder.shrink();
  }

  private giveBack(client: Client, ids: readonly number[]): void {
    for (const id of ids) {
      const held = client.refs.get(id) ?? 0;
      if (held <= 1) client.refs.delete(id);
      else client.refs.set(id, held - 1);
      this.release(id, 1);
    }
  }

  // ------------------------------------------------------------------ objects

  /** Start managing `obj` as a `typeid` (its methods become callable by proxies). */
  private adopt(obj: object, typeid: string): Meta {
    const known = this.metas.get(obj);
    if (known !== undefined) return known;
    const spec = this.types.get(typeid);
    const exposedList = spec?.exposed ?? publicMethods(obj);
    const meta: Meta = {
      typeid,
      exposed: new Set(exposedList),
      exposedList,
      methodToTypeid: spec?.methodToTypeid ?? {},
      proxy: spec?.proxy ?? '',
      id: 0,
    };
    this.metas.set(obj, meta);
    // So that a managed object inside a result (a list stored in a dict) goes back as a proxy.
    if (!isShareable(obj) && Object.isExtensible(obj)) {
      Object.defineProperty(obj, toHandle, { value: managedHandle, configurable: true });
    }
    return meta;
  }

  /** The token for `obj`, counted as one more reference held by `client`. */
  tokenFor(obj: object, client: Client): Token {
    const meta = this.metas.get(obj);
    if (meta === undefined) throw new TypeError('tokenFor: not a managed object');
    let entry = meta.id === 0 ? undefined : this.entries.get(meta.id);
    if (entry === undefined) {
      meta.id = this.nextId++;
      entry = { obj, meta, refs: 0 };
      this.entries.set(meta.id, entry);
    }
    this.retain(client, meta.id);
    const e = encoding.value;
    if (e !== null && e.client === client) e.retained.push(meta.id);
    return {
      [HANDLE_KIND]: PROXY_KIND,
      server: this.id,
      address: this.bound,
      id: meta.id,
      typeid: meta.typeid,
      exposed: meta.exposedList,
      proxy: meta.proxy,
    };
  }

  private retain(client: Client, id: number): void {
    this.entries.get(id)!.refs++;
    client.refs.set(id, (client.refs.get(id) ?? 0) + 1);
  }

  private release(id: number, n: number): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    entry.refs -= n;
    if (entry.refs > 0) return;
    setTimeout(() => {
      if (entry.refs <= 0 && this.entries.get(id) === entry) this.entries.delete(id);
    }, FREE_AFTER_MS).unref();
  }

  /** A token of this server, revived inside it: the object itself. */
  private referent(id: number): object {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new KeyError(`the manager has no object ${id} (no proxy holds it any more)`);
    return entry.obj;
  }
}

const kSnapshot = Symbol.for('multiprocessing.manager.snapshot');

/**
 * What _getvalue() returns: the object's own snapshot (dict, list, Namespace, Value,
 * Array), a copy of a registered object's own fields; a lock or a queue has no value.
 */
function snapshotOf(obj: object, meta: Meta): unknown {
  const snap = (obj as { [kSnapshot]?: () => unknown })[kSnapshot];
  if (typeof snap === 'function') return snap.call(obj);
  if (meta.proxy !== '') throw new TypeError(`_getvalue(): a ${meta.typeid} has no value to copy; call its methods instead`);
  return { ...obj };
}

function unsendable(err: unknown): TypeError {
  return new TypeError(`the manager cannot send the result back: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
