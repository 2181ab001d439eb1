// A client's connection to one manager server: one socket per server and process, shared
// by every proxy of that server, with any number of calls in flight (each request has an
// id; replies are matched to their calls as they come).
//
// It connects lazily, on the first call, and authenticates first. The socket keeps the
// event loop alive only while a call waits for its reply, so a process holding proxies
// exits as a process holding none would. When the connection ends (the server shut
// down or died), waiting and later calls of its proxies fail with EOFError; proxies that
// arrive later (a token in a message) get a new connection.
import { AuthenticationError, EOFError, ValueError } from './errors.js';
import { Decoder, Encoder, revive } from './codec.js';
import { type Address, Client } from './listener.js';
import { withNetworkTransport } from './reduction.js';
import {
  ERROR,
  FAILED,
  PROXY,
  PROXY_KIND,
  RETURN,
  SpinPolicy,
  type Token,
  errorFromWire,
  isReply,
  remoteFailure,
  withRevivalContext,
} from './manager_protocol.js';
import type { SocketConnection } from './socket_connection.js';

interface Waiter {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** Builds the proxy for a token that a reply of this connection's server carries. */
type Adopt = (token: Token, conn: ManagerConnection) => unknown;
let adoptToken: Adopt | null = null;

/** @internal manager_proxy.ts installs how tokens become proxies. */
export function setProxyFactory(fn: Adopt): void {
  adoptToken = fn;
}

const CHALLENGE = Buffer.from('#CHALLENGE#');
/** How long connecting and the handshake may take before calls fail. */
const CONNECT_TIMEOUT_MS = 10_000;
/** A reply may carry proxies, never a handle naming this machine's shared memory. */
const ONLY_PROXIES: ReadonlySet<string> = new Set([PROXY_KIND]);

function addressKey(address: Address, authkey: Buffer | null): string {
  return `${JSON.stringify(address)}|${authkey?.toString('hex') ?? ''}`;
}

export function describeAddress(address: Address): string {
  return typeof address === 'string' ? address.replace('\0', '@') : `${address[0]}:${address[1]}`;
}

export class ManagerConnection {
  private static readonly open = new Map<string, ManagerConnection>();

  /** The connection this process uses for the server at `address` (made on first use). */
  static for(address: Address, authkey: Buffer | null): ManagerConnection {
    if (authkey !== null && authkey.length === 0) authkey = null; // an empty key is no key, as the server sees it
    const key = addressKey(address, authkey);
    let c = ManagerConnection.open.get(key);
    if (c === undefined || c.ended) {
      c = new ManagerConnection(address, authkey, key);
      ManagerConnection.open.set(key, c);
    }
    return c;
  }

  readonly address: Address;
  readonly authkey: Buffer | null;
  private readonly key: string;
  /** The server's id, known once connected (tokens name their server by it). */
  serverId: string | null = null;
  private maxMessageBytes = Number.POSITIVE_INFINITY;
  private conn: SocketConnection | null = null;
  private connecting: Promise<void> | null = null;
  private ended = false;
  private failure: Error | null = null;
  private readonly waiting = new Map<number, Waiter>();
  private nextRequest = 1;
  /** Requests encoded before the socket was up, in order. */
  private backlog: { id: number; method: string; bytes: Uint8Array }[] = [];
  /** The id of the hello request while its reply is awaited. */
  private helloId = -1;
  private readonly encoder = new Encoder();
  private readonly decoder = new Decoder();
  private readonly spin = new SpinPolicy();
  private readonly revival = {
    replyFrom: {
      serverId: null as string | null,
      authkey: null as Buffer | null,
      adopt: (token: Token) => adoptToken!(token, this),
    },
  };

  private constructor(address: Address, authkey: Buffer | null, key: string) {
    this.address = address;
    this.authkey = authkey;
    this.key = key;
    this.revival.replyFrom.authkey = authkey;
  }

  /** False once the connection ended (a new one is made for the next call). */
  get alive(): boolean {
    return !this.ended;
  }

  /** Connect and authenticate now (BaseManager.connect); rejects when that fails. */
  async ready(): Promise<void> {
    if (this.serverId !== null) return;
    await this.call(0, 'dummy', []);
  }

  /** Call `method` of object `objectId` with `args`; resolves with its result. */
  call(objectId: number, method: string, args: unknown[]): Promise<unknown> {
    const id = this.nextRequest++;
    return new Promise<unknown>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      try {
        this.send(id, objectId, method, args);
      } catch (err) {
        this.waiting.delete(id);
        reject(err as Error);
      }
      // A call waiting for its reply keeps the process alive; an idle connection does not.
      if (this.waiting.size === 1) this.conn?.setRef(true);
    });
  }

  /** Send a request that wants no reply (reference counts). Never throws. */
  notify(objectId: number, method: string, args: unknown[]): void {
    if (this.ended) return;
    try {
      this.send(0, objectId, method, args);
    } catch {
      // only numbers are sent this way
    }
  }

  private encode(id: number, objectId: number, method: string, args: unknown[]): Uint8Array {
    let n: number;
    try {
      n = withNetworkTransport(() => this.encoder.encodeLength([id, objectId, method, args]));
    } catch (err) {
      throw new TypeError(`${method}: the arguments cannot be sent to the manager: ${(err as Error).message}`, { cause: err });
    }
    this.checkSize(method, n);
    return this.encoder.bytes.subarray(0, n);
  }

  private checkSize(method: string, n: number): void {
    if (n > this.maxMessageBytes) {
      throw new ValueError(`${method}: the request is ${n} bytes, over the manager's limit of ${this.maxMessageBytes} (maxMessageBytes)`);
    }
  }

  private send(id: number, objectId: number, method: string, args: unknown[]): void {
    if (this.ended) throw this.failure ?? this.goneError();
    const bytes = this.encode(id, objectId, method, args);
    const conn = this.conn;
    if (conn !== null && this.serverId !== null) {
      conn.sendQueued(bytes);
      // Most replies come within tens of microseconds: wait for them here, not asleep.
      const us = id === 0 ? 0 : this.spin.budget();
      if (us > 0) this.spin.result(conn.spinStream(us));
    } else {
      // Before the server's hello (its message limit is not known yet): queued.
      this.backlog.push({ id, method, bytes: bytes.slice() });
      this.connecting ??= this.connect();
    }
    this.encoder.shrink();
  }

  private async connect(): Promise<void> {
    let conn: SocketConnection;
    try {
      const connecting = Client(this.address, { authkey: this.authkey }) as Promise<SocketConnection>;
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new EOFError(`the manager at ${describeAddress(this.address)} did not complete the handshake in ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
      });
      connecting.then((c) => this.ended && c.close(), () => {});
      conn = await Promise.race([connecting, limit]).finally(() => clearTimeout(timer));
    } catch (err) {
      this.end(this.wrapConnectError(err as Error));
      return;
    }
    if (this.ended) {
      conn.close();
      return;
    }
    this.conn = conn;
    let first = true;
    conn.stream(0x7fffffff, {
      frame: (bytes) => {
        if (first && bytes.subarray(0, CHALLENGE.length).equals(CHALLENGE)) {
          this.end(new AuthenticationError(`the manager at ${describeAddress(this.address)} requires an authkey: pass options.authkey`));
          return;
        }
        first = false;
        this.onReply(bytes);
      },
      end: (err) => this.end(err === null ? null : new EOFError(`the connection to the manager broke: ${err.message}`, { cause: err })),
    });
    // hello first: its reply (the server's id and message limit) comes before any other.
    this.helloId = this.nextRequest++;
    conn.sendQueued(withNetworkTransport(() => this.encoder.encode([this.helloId, 0, 'hello', []])));
    conn.setRef(true);
  }

  /** The hello reply: the server's id and limit; then the queued requests go out. */
  private hello(info: unknown): void {
    const { server, maxMessageBytes } = (info ?? {}) as { server?: unknown; maxMessageBytes?: unknown };
    if (typeof server !== 'string' || typeof maxMessageBytes !== 'number') {
      this.end(new EOFError('the manager answered hello with something else: is it a manager of this library?'));
      return;
    }
    this.serverId = server;
    this.revival.replyFrom.serverId = server;
    this.maxMessageBytes = maxMessageBytes;
    const conn = this.conn!;
    for (const { id, method, bytes } of this.backlog.splice(0)) {
      try {
        this.checkSize(method, bytes.length);
      } catch (err) {
        const w = this.waiting.get(id);
        this.waiting.delete(id);
        w?.reject(err as Error);
        continue;
      }
      conn.sendQueued(bytes);
    }
    conn.setRef(this.waiting.size > 0);
  }

  private onReply(bytes: Buffer): void {
    let reply: unknown;
    try {
      const raw = this.decoder.decode(bytes, 0, bytes.length);
      const wire = this.decoder.wire;
      reply = withRevivalContext(this.revival, () => withNetworkTransport(() => revive(raw, wire), ONLY_PROXIES));
    } catch (err) {
      this.end(new EOFError(`the manager sent a reply this client cannot read: ${(err as Error).message}`));
      return;
    }
    if (!isReply(reply)) {
      this.end(new EOFError('the manager sent a malformed reply'));
      return;
    }
    const [id, kind, value] = reply;
    if (id === this.helloId) {
      this.helloId = -1;
      if (kind === RETURN) this.hello(value);
      else this.end(kind === ERROR || kind === FAILED ? errorFromWire(value) : new EOFError('the manager refused hello'));
      return;
    }
    const w = this.waiting.get(id);
    if (w === undefined) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.conn?.setRef(false);
    try {
      if (kind === RETURN) w.resolve(value);
      else if (kind === PROXY) w.resolve(adoptToken!(value as Token, this));
      else if (kind === ERROR) w.reject(errorFromWire(value));
      else if (kind === FAILED) w.reject(remoteFailure(value));
      else w.reject(new EOFError(`the manager sent an unknown reply kind ${String(kind)}`));
    } catch (err) {
      // building the value failed (a custom proxy class that throws): that call fails
      w.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private wrapConnectError(err: Error): Error {
    if (err instanceof AuthenticationError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    return new EOFError(`cannot reach the manager at ${describeAddress(this.address)} (${code ?? err.message}): is it running?`, { cause: err });
  }

  private goneError(): Error {
    return new EOFError(`the connection to the manager at ${describeAddress(this.address)} is closed (the manager shut down or died)`);
  }

  /** The connection is over: fail what waits, and let the next call connect anew. */
  private end(err: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.conn?.close();
    this.backlog = [];
    const failure = err ?? this.goneError();
    this.failure = failure;
    for (const w of this.waiting.values()) w.reject(failure);
    this.waiting.clear();
    if (ManagerConnection.open.get(this.key) === this) ManagerConnection.open.delete(this.key);
  }

  /** Close this process's connection to the server (its proxies reconnect on their next call). */
  close(): void {
    this.end(null);
  }

  /** @internal Close every manager connection of this process. */
  static closeAll(): void {
    for (const c of [...ManagerConnection.open.values()]) c.close();
  }
}
