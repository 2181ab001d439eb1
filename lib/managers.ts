// BaseManager and SyncManager (Python's multiprocessing.managers): a server process that
// owns objects, and proxies to them that any process (on any machine that has the
// address and the authkey) can use.
//
//   start()      spawns the server process (a daemon child: it ends with this process)
//   connect()    uses a server someone else started
//   getServer()  makes a server in this process, for serveForever()
//
// register(typeid, callable) adds a method of that name to the manager class which asks
// the server to make an object and resolves to its proxy. The server process finds the
// callable as a Process finds its target (exported from a module, or self-contained
// source); SyncManager's own typeids are built in.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { authkeyArg } from './auth.js';
import { ProcessError, ValueError } from './errors.js';
import { type Address, checkAddress } from './listener.js';
import { ManagerConnection, describeAddress } from './manager_client.js';
import { type BaseProxy, type ProxyClass, registerProxyClass } from './manager_proxy.js';
import type {
  AcquirerProxy,
  ArrayProxy,
  BarrierProxy,
  ConditionProxy,
  DictKey,
  DictProxy,
  EventProxy,
  JoinableQueueProxy,
  ListProxy,
  NamespaceProxy,
  QueueProxy,
  SemaphoreProxy,
  ValueProxy,
} from './manager_proxies.js';
import { errorFromWire } from './manager_protocol.js';
import { Server, type TypeSpec, checkListenable } from './manager_server.js';
import { SYNC_TYPES, builtinSpec } from './manager_types.js';
import { registerContextBinder } from './context.js';
import { Pipe } from './pipe.js';
import { Process, currentProcess, exitedOf } from './process.js';
import { type TargetRef, callerFile, describeTarget } from './targets.js';
import { checkInteger, checkOptions, checkString, describe } from './validate.js';
import type { Typecode } from './ctypes.js';

/** What register() accepts as the maker of a typeid's objects. */
export type ManagedCallable = ((...args: never[]) => unknown) | (abstract new (...args: never[]) => unknown);

export interface RegisterOptions {
  /** The methods proxies may call (default: the object's public methods). */
  exposed?: readonly string[] | null;
  /** Methods whose results are managed objects themselves: method name -> their typeid. */
  methodToTypeid?: Readonly<Record<string, string>> | null;
  /** The proxy class (a BaseProxy subclass; default: an AutoProxy). */
  proxytype?: ProxyClass | null;
  /** Add a method named `typeid` to the manager (default true). */
  createMethod?: boolean;
}

export interface ManagerOptions {
  /** ['host', port] (port 0 picks one) or a Unix socket path; default: a fresh Unix socket. */
  address?: Address | null;
  /** The shared secret of the handshake; default: this process's authkey. */
  authkey?: Buffer | Uint8Array | string | null;
  /** The largest message the server accepts or sends, in bytes (default 128 MiB). */
  maxMessageBytes?: number;
  /** Seconds shutdown() waits for the server before it terminates it (default 1). */
  shutdownTimeout?: number;
  /** A context (mp.getContext('forkserver')) whose start method the server process uses. */
  context?: { Process: typeof Process } | null;
}

interface Registration {
  readonly typeid: string;
  /** A built-in type's name, the user's callable, or null (a proxy type only). */
  readonly callable: { builtin: string } | ManagedCallable | null;
  readonly callerFile: string | undefined;
  readonly exposed: readonly string[] | null;
  readonly methodToTypeid: Readonly<Record<string, string>>;
  readonly proxy: string;
}

/** How the server process gets one typeid. */
export interface TypeRef {
  typeid: string;
  make: { builtin: string } | TargetRef | null;
  exposed: readonly string[] | null;
  methodToTypeid: Readonly<Record<string, string>>;
  proxy: string;
}

const kRegistry: unique symbol = Symbol('multiprocessing.manager.registry');
const DEFAULT_MAX_MESSAGE = 128 * 1024 * 1024;
const SERVER_TARGET = { module: pathToFileURL(join(__dirname, 'manager_main.js')).href, name: 'serveManager' };
const RESERVED = new Set(['start', 'connect', 'shutdown', 'join', 'getServer', 'address', 'constructor', 'register', 'then', 'create']);
let proxyClassCounter = 0;

type State = 'initial' | 'started' | 'connected' | 'shutdown';

function isBuiltin(c: Registration['callable']): c is { builtin: string } {
  return c !== null && typeof c === 'object';
}

export class BaseManager implements AsyncDisposable {
  static [kRegistry]: Map<string, Registration> = new Map();

  /**
   * Add a typeid: `callable` makes its objects in the server (a class is constructed).
   * Without a callable (a client of a remote manager) the typeid only names the method.
   */
  static register(typeid: string, callable?: ManagedCallable | null, options?: RegisterOptions): void {
    checkString('typeid', typeid);
    // A typeid becomes a method of the manager: it must not replace one of the manager's
    // own members (create, start, ...), an Object member (toString) or `then` (which
    // would make every manager a thenable that `await` never finishes).
    if (typeid.length === 0 || typeid.startsWith('_') || RESERVED.has(typeid) || typeid in BaseManager.prototype || typeid in Object.prototype) {
      throw new ValueError(
        `typeid '${typeid}' cannot be registered: it must be non-empty, not start with '_', and not be a name the manager ` +
          `already has (start, connect, shutdown, join, getServer, address, create, toString, then, ...)`,
      );
    }
    if (callable !== undefined && callable !== null && typeof callable !== 'function') {
      throw new TypeError(`callable must be a function or a class, got ${describe(callable)}`);
    }
    const o = checkOptions<RegisterOptions>('options', options);
    // biome-ignore lint/complexity/noThisInStatic: each subclass registers on itself
    addRegistration(this, typeid, callable ?? null, o, callerFile());
  }

  #state: State = 'initial';
  #address: Address | null;
  readonly #authkey: Buffer | null;
  readonly #maxMessageBytes: number;
  readonly #shutdownTimeout: number;
  readonly #ProcessClass: typeof Process;
  #conn: ManagerConnection | null = null;
  #process: Process | null = null;

  constructor(options?: ManagerOptions) {
    const o = checkOptions<ManagerOptions>('options', options);
    this.#address = o.address === undefined || o.address === null ? null : checkAddress('options.address', o.address);
    const key = o.authkey === undefined ? Buffer.from(currentProcess().authkey) : authkeyArg('options.authkey', o.authkey);
    this.#authkey = key !== null && key.length === 0 ? null : key; // an empty key is no key
    this.#maxMessageBytes = o.maxMessageBytes === undefined ? DEFAULT_MAX_MESSAGE : checkInteger('options.maxMessageBytes', o.maxMessageBytes, 1024);
    const t = o.shutdownTimeout ?? 1;
    if (typeof t !== 'number' || !(t >= 0)) throw new TypeError(`options.shutdownTimeout must be a number of seconds, got ${describe(t)}`);
    this.#shutdownTimeout = t;
    this.#ProcessClass = o.context?.Process ?? Process;
  }

  /** The server's address: the bound one (port 0 resolved) once started. */
  get address(): Address | null {
    return this.#address;
  }

  /** The registrations of this manager's class, as the server process needs them. */
  private typeRefs(): TypeRef[] {
    const C = this.constructor as typeof BaseManager;
    return [...C[kRegistry].values()].map((r) => ({
      typeid: r.typeid,
      make: r.callable === null ? null : isBuiltin(r.callable) ? r.callable : describeTarget(r.callable, r.callerFile, { allowClass: true }),
      exposed: r.exposed,
      methodToTypeid: r.methodToTypeid,
      proxy: r.proxy,
    }));
  }

  /** Start the server process; resolves once it listens. */
  async start(initializer?: ((...args: never[]) => unknown) | null, initargs: readonly unknown[] = []): Promise<void> {
    if (this.#state !== 'initial') throw new ProcessError(`cannot start a manager that is ${this.#state}`);
    checkListenable(this.#address, this.#authkey);
    const init = initializer === undefined || initializer === null ? null : describeTarget(initializer, callerFile());
    // Made first: when it cannot be (a full /dev/shm), nothing started and start() may be retried.
    const [reader, writer] = Pipe({ duplex: false });
    this.#state = 'started';
    const spec = {
      types: this.typeRefs(),
      address: this.#address,
      authkey: this.#authkey === null ? null : new Uint8Array(this.#authkey),
      maxMessageBytes: this.#maxMessageBytes,
      initializer: init,
      initargs: [...initargs],
    };
    const p = new this.#ProcessClass({ target: SERVER_TARGET, args: [spec, writer], daemon: true, name: `${this.constructor.name}-${managerCount++}` });
    try {
      p.start();
      writer.close();
      const exited = exitedOf(p).then((code) => ({ exited: code }));
      const answer = (await Promise.race([reader.recv(), exited])) as { address?: Address; error?: unknown; exited?: number };
      if (answer.exited !== undefined) throw new ProcessError(`the manager process exited with code ${answer.exited} before it was ready (its stderr says why)`);
      // The server's own error (EADDRINUSE, a throwing initializer, a missing export), with its class.
      if (answer.error !== undefined) throw errorFromWire(answer.error);
      this.#address = answer.address!;
    } catch (err) {
      this.#state = 'shutdown';
      if (p.exitcode === null && p.pid !== null) p.kill();
      throw err;
    } finally {
      reader.close();
      writer.close();
    }
    this.#process = p;
    this.#conn = ManagerConnection.for(this.#address, this.#authkey);
    await this.#conn.ready();
  }

  /** Use a server that is already running at `address` (authenticating with `authkey`). */
  async connect(): Promise<void> {
    if (this.#state !== 'initial') throw new ProcessError(`cannot connect a manager that is ${this.#state}`);
    if (this.#address === null) throw new ValueError('connect() needs options.address: the address of a running manager');
    const conn = ManagerConnection.for(this.#address, this.#authkey);
    await conn.ready();
    this.#conn = conn;
    this.#state = 'connected';
  }

  /** A server in this process, with this class's registrations; run it with serveForever(). */
  getServer(): Server {
    if (this.#state !== 'initial') throw new ProcessError(`cannot make a server for a manager that is ${this.#state}`);
    const types = new Map<string, TypeSpec>();
    const C = this.constructor as typeof BaseManager;
    for (const r of C[kRegistry].values()) {
      if (isBuiltin(r.callable)) types.set(r.typeid, builtinSpec(r.typeid, r.callable.builtin, r.methodToTypeid));
      else types.set(r.typeid, { typeid: r.typeid, create: r.callable as TypeSpec['create'], exposed: r.exposed, methodToTypeid: r.methodToTypeid, proxy: r.proxy });
    }
    const server = new Server(types, { address: this.#address, authkey: this.#authkey, maxMessageBytes: this.#maxMessageBytes });
    return server;
  }

  /** @internal Ask the server for a new `typeid` object; resolves to its proxy. */
  create(typeid: string, args: readonly unknown[]): Promise<BaseProxy> {
    const conn = this.#conn;
    if (conn === null || (this.#state !== 'started' && this.#state !== 'connected')) {
      return Promise.reject(new ProcessError(`the manager is ${this.#state}: start() or connect() it first`));
    }
    return conn.call(0, 'create', [typeid, ...args]) as Promise<BaseProxy>;
  }

  /** Wait for the server process to end (a started manager). */
  async join(timeout?: number | null): Promise<void> {
    if (this.#process !== null) await this.#process.join(timeout);
  }

  /** Stop the server (a started manager) or drop the connection (a connected one). Never hangs. */
  async shutdown(): Promise<void> {
    const state = this.#state;
    if (state === 'shutdown' || state === 'initial') return;
    this.#state = 'shutdown';
    const conn = this.#conn;
    const p = this.#process;
    // A connected manager only forgets its connection: the process's proxies of that
    // server share it and go on working.
    if (p === null) return;
    const ms = this.#shutdownTimeout * 1000;
    if (conn?.alive) {
      await Promise.race([conn.call(0, 'shutdown', []).catch(() => {}), new Promise((r) => setTimeout(r, ms).unref())]);
    }
    await p.join(this.#shutdownTimeout);
    if (p.exitcode === null) {
      p.terminate();
      await p.join(this.#shutdownTimeout);
    }
    if (p.exitcode === null) {
      p.kill();
      await p.join();
    }
    conn?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  toString(): string {
    return `<${this.constructor.name} ${this.#state}${this.#address === null ? '' : ` at ${describeAddress(this.#address)}`}>`;
  }
}

/** @internal Record a typeid on manager class `C` (and add its method). */
export function addRegistration(
C: typeof BaseManager,
  typeid: string,
  callable: Registration['callable'],
  o: Partial<RegisterOptions>,
  file: string | undefined,
): void {
  if (o.exposed !== undefined && o.exposed !== null && !(Array.isArray(o.exposed) && o.exposed.every((m) => typeof m === 'string'))) {
    throw new TypeError(`options.exposed must be an array of method names, got ${describe(o.exposed)}`);
  }
  let proxy = '';
  if (o.proxytype !== undefined && o.proxytype !== null) {
    if (typeof o.proxytype !== 'function') throw new TypeError(`options.proxytype must be a BaseProxy subclass, got ${describe(o.proxytype)}`);
    proxy = `${typeid}#${++proxyClassCounter}`;
    registerProxyClass(proxy, o.proxytype);
  } else if (isBuiltin(callable)) proxy = SYNC_TYPES[callable.builtin]!.proxy;
  // A subclass's registrations are its own (Python copies the registry on first register).
  if (!Object.hasOwn(C, kRegistry)) C[kRegistry] = new Map(C[kRegistry]);
  C[kRegistry].set(typeid, {
    typeid,
    callable,
    callerFile: file,
    exposed: o.exposed ?? null,
    methodToTypeid: { ...(o.methodToTypeid ?? {}) },
    proxy,
  });
  if (o.createMethod !== false && !Object.hasOwn(C.prototype, typeid)) {
    Object.defineProperty(C.prototype, typeid, {
      value: function (this: BaseManager, ...args: unknown[]) {
        return this.create(typeid, args);
      },
      configurable: true,
      writable: true,
    });
  }
}

let managerCount = 1;

/** A manager with Python's SyncManager typeids: shared dicts, lists, locks, queues, ... */
export class SyncManager extends BaseManager {
  dict<K extends DictKey = string, V = unknown>(init?: Partial<Record<K & string, V>> | Map<K, V> | Iterable<readonly [K, V]>): Promise<DictProxy<K, V>> {
    const arg = init !== undefined && init !== null && !(init instanceof Map) && typeof (init as Iterable<unknown>)[Symbol.iterator] === 'function' ? [...(init as Iterable<unknown>)] : init;
    return this.create('dict', arg === undefined ? [] : [arg]) as Promise<DictProxy<K, V>>;
  }
  list<T = unknown>(init?: Iterable<T>): Promise<ListProxy<T>> {
    return this.create('list', init === undefined ? [] : [[...init]]) as Promise<ListProxy<T>>;
  }
  Namespace<T extends Record<string, unknown> = Record<string, unknown>>(init?: Partial<T>): Promise<NamespaceProxy<T>> {
    return this.create('Namespace', init === undefined ? [] : [init]) as Promise<NamespaceProxy<T>>;
  }
  Value<T extends number | bigint | string = number>(typecode: Typecode, value: T): Promise<ValueProxy<T>> {
    return this.create('Value', [typecode, value]) as Promise<ValueProxy<T>>;
  }
  Array<T extends number | bigint | string = number>(typecode: Typecode, sizeOrValues: number | Iterable<T>): Promise<ArrayProxy<T>> {
    const arg = typeof sizeOrValues === 'number' ? sizeOrValues : [...sizeOrValues];
    return this.create('Array', [typecode, arg]) as Promise<ArrayProxy<T>>;
  }
  Lock(): Promise<AcquirerProxy> {
    return this.create('Lock', []) as Promise<AcquirerProxy>;
  }
  RLock(): Promise<AcquirerProxy> {
    return this.create('RLock', []) as Promise<AcquirerProxy>;
  }
  Semaphore(value = 1): Promise<SemaphoreProxy> {
    return this.create('Semaphore', [value]) as Promise<SemaphoreProxy>;
  }
  BoundedSemaphore(value = 1): Promise<SemaphoreProxy> {
    return this.create('BoundedSemaphore', [value]) as Promise<SemaphoreProxy>;
  }
  Condition(lock?: AcquirerProxy | null): Promise<ConditionProxy> {
    return this.create('Condition', lock === undefined || lock === null ? [] : [lock]) as Promise<ConditionProxy>;
  }
  Event(): Promise<EventProxy> {
    return this.create('Event', []) as Promise<EventProxy>;
  }
  Barrier(parties: number, options?: { timeout?: number | null }): Promise<BarrierProxy> {
    return this.create('Barrier', options === undefined ? [parties] : [parties, options]) as Promise<BarrierProxy>;
  }
  Queue<T = unknown>(maxsize = 0): Promise<QueueProxy<T>> {
    return this.create('Queue', [maxsize]) as Promise<QueueProxy<T>>;
  }
  JoinableQueue<T = unknown>(maxsize = 0): Promise<JoinableQueueProxy<T>> {
    return this.create('JoinableQueue', [maxsize]) as Promise<JoinableQueueProxy<T>>;
  }
}

for (const name of Object.keys(SYNC_TYPES)) {
  if (name.startsWith('_')) continue;
  addRegistration(SyncManager, name, { builtin: name }, { createMethod: false }, undefined);
}

/** Start a SyncManager (Python's multiprocessing.Manager()); resolves once its server is ready. */
export async function Manager(options?: ManagerOptions): Promise<SyncManager> {
  const m = new SyncManager(options);
  await m.start();
  return m;
}

// ctx.Manager() starts its server with the context's start method.
registerContextBinder('Manager', (ctx) => (options?: ManagerOptions) => Manager({ ...options, context: ctx }));
