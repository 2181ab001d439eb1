// mp.connection: Listener, Client and wait, over TCP (['127.0.0.1', port]) or a Unix
// socket (a filesystem path), interoperable with Python 3.12's multiprocessing.connection:
// the same framing (socket_connection.ts) and the same mutual HMAC challenge-response
// when an authkey is given (auth.ts).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { answerChallenge, authkeyArg, deliverChallenge } from './auth.js';
import { Connection } from './connection.js';
import { ValueError } from './errors.js';
import { SocketConnection } from './socket_connection.js';
import { checkSocketPathLength, socketDir } from './socket_path.js';
import { checkInteger, checkOneOf, checkOptions, checkString, describe } from './validate.js';

/** ['host', port] for TCP, or a filesystem path for a Unix socket. */
export type Address = readonly [string, number] | string;
export type Family = 'AF_INET' | 'AF_INET6' | 'AF_UNIX';

export interface ListenerOptions {
  /** Deduced from the address; 'AF_UNIX' (a fresh path in the temp dir) when there is none. */
  family?: Family;
  /** Pending connections the OS keeps (Python's default is 1; Node's minimum applies). */
  backlog?: number;
  /** Both sides prove they know it before any message (HMAC challenge-response). */
  authkey?: Buffer | Uint8Array | string | null;
}

export interface ClientOptions {
  family?: Family;
  authkey?: Buffer | Uint8Array | string | null;
}

function familyOf(address: Address): Family {
  if (typeof address === 'string') return 'AF_UNIX';
  return address[0].includes(':') ? 'AF_INET6' : 'AF_INET';
}

/** A Listener's, Client's or Manager's address, checked (a socket path must fit sun_path). */
export function checkAddress(name: string, address: unknown): Address {
  if (typeof address === 'string') {
    if (address.length === 0) throw new ValueError(`${name} must not be an empty path`);
    checkSocketPathLength(name, address);
    return address;
  }
  if (Array.isArray(address) && address.length === 2) {
    const host = checkString(`${name}[0]`, address[0]);
    const port = checkInteger(`${name}[1]`, address[1], 0, 65535);
    return [host, port];
  }
  throw new TypeError(`${name} must be ['host', port] or a socket path, got ${describe(address)}`);
}

function arbitraryAddress(family: Family): Address {
  if (family === 'AF_UNIX') {
    const name = `mp-listener-${randomBytes(6).toString('hex')}`;
    return join(socketDir(name.length), name);
  }
  return [family === 'AF_INET6' ? '::1' : '127.0.0.1', 0];
}

/** Accepts connections (Python's multiprocessing.connection.Listener). */
export class Listener implements Disposable, AsyncDisposable {
  private server: Server | null;
  private readonly authkey: Buffer | null;
  private readonly family: Family;
  private bound: Address;
  private readonly pending: Socket[] = [];
  private readonly waiting: { resolve: (s: Socket) => void; reject: (e: Error) => void }[] = [];
  private readonly ready: Promise<void>;
  private failure: Error | null = null;

  constructor(address?: Address | null, options?: ListenerOptions) {
    const { family, backlog = 1, authkey } = checkOptions<ListenerOptions>('options', options);
    const addr = address === undefined || address === null ? null : checkAddress('address', address);
    this.family = family === undefined ? (addr === null ? 'AF_UNIX' : familyOf(addr)) : checkOneOf('options.family', family, ['AF_INET', 'AF_INET6', 'AF_UNIX']);
    if (addr !== null && familyOf(addr) !== this.family && !(this.family === 'AF_INET6' && typeof addr !== 'string')) {
      throw new ValueError(`address ${JSON.stringify(addr)} does not fit family ${this.family}`);
    }
    checkInteger('options.backlog', backlog, 0);
    this.authkey = authkeyArg('options.authkey', authkey);
    this.bound = addr ?? arbitraryAddress(this.family);
    const server = createServer({ pauseOnConnect: true }, (socket) => this.arrived(socket));
    this.server = server;
    const where = this.bound;
    if (typeof where === 'string') server.listen({ path: where, backlog: Math.max(backlog, 1) });
    else server.listen({ host: where[0], port: where[1], backlog: Math.max(backlog, 1) });
    this.ready = once(server, 'listening').then(
      () => {
        const a = server.address();
        if (a !== null && typeof a === 'object') this.bound = [where[0] as string, a.port];
      },
      (err: Error) => {
        this.failure = err;
        for (const w of this.waiting.splice(0)) w.reject(err);
        throw err;
      },
    );
    this.ready.catch(() => {});
    server.on('error', (err) => {
      this.failure = err;
      for (const w of this.waiting.splice(0)) w.reject(err);
    });
  }

  /** Resolves once the socket is bound (listener.address then holds the real port). */
  listening(): Promise<void> {
    return this.ready;
  }

  /** The bound address: ['127.0.0.1', port] (the real port once listening) or the socket path. */
  get address(): Address {
    return this.bound;
  }

  private arrived(socket: Socket): void {
    const w = this.waiting.shift();
    if (w !== undefined) w.resolve(socket);
    else this.pending.push(socket);
  }

  /** The next connection, authenticated (both ways) when the listener has an authkey. */
  async accept(): Promise<Connection> {
    if (this.server === null) throw new ValueError('Listener is closed');
    await this.ready;
    const socket =
      this.pending.shift() ??
      (await new Promise<Socket>((resolve, reject) => {
        if (this.failure !== null) reject(this.failure);
        else this.waiting.push({ resolve, reject });
      }));
    const conn = new SocketConnection(socket);
    if (this.authkey !== null) {
      try {
        await deliverChallenge(conn, this.authkey);
        await answerChallenge(conn, this.authkey);
      } catch (err) {
        conn.close();
        throw err;
      }
    }
    return conn;
  }

  /** Stop listening (a Unix socket's file is removed). Idempotent. */
  close(): void {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    server.close();
    for (const s of this.pending.splice(0)) s.destroy();
    const err = new ValueError('Listener is closed');
    for (const w of this.waiting.splice(0)) w.reject(err);
    if (typeof this.bound === 'string') {
      try {
        unlinkSync(this.bound);
      } catch {
        // already gone (Node may remove it itself)
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** Connect to a Listener (Python's Client); authenticates both ways when given an authkey. */
export async function Client(address: Address, options?: ClientOptions): Promise<Connection> {
  const addr = checkAddress('address', address);
  const { family, authkey } = checkOptions<ClientOptions>('options', options);
  if (family !== undefined) checkOneOf('options.family', family, ['AF_INET', 'AF_INET6', 'AF_UNIX']);
  const key = authkeyArg('options.authkey', authkey);
  const socket = typeof addr === 'string' ? connect({ path: addr }) : connect({ host: addr[0], port: addr[1] });
  socket.pause();
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const conn = new SocketConnection(socket);
  if (key !== null) {
    try {
      await answerChallenge(conn, key);
      await deliverChallenge(conn, key);
    } catch (err) {
      conn.close();
      throw err;
    }
  }
  return conn;
}

/** Something wait() can watch: a Connection (readable: a message or EOF), or any object with a poll(timeout). */
export type Waitable = Connection;

/**
 * Wait until at least one of `objects` is readable (a message or EOF waits), at most
 * `timeout` seconds (null/undefined: forever). Resolves with the ready ones, in the
 * order given; an empty array on timeout.
 */
export async function wait(objects: Iterable<Waitable>, timeout?: number | null): Promise<Waitable[]> {
  if (objects === null || typeof (objects as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
    throw new TypeError(`objects must be an iterable of connections, got ${describe(objects)}`);
  }
  const list = [...objects];
  for (const [i, o] of list.entries()) {
    if (!(o instanceof Connection)) throw new TypeError(`objects[${i}] must be a Connection, got ${describe(o)}`);
  }
  const readyNow = () => list.filter((c) => !c.readable || c.pollSync(0));
  const now = readyNow();
  if (now.length > 0 || list.length === 0 || timeout === 0) return now;
  const controller = new AbortController();
  // Each poll ends when its connection is ready or at the timeout; the first ready one
  // ends the wait and the others are told to stop.
  // A poll that rejects (its connection was closed meanwhile) ends the wait too: readyNow()
  // reports a closed connection as ready.
  const polls = list.map((c) =>
    c.pollUntil(timeout ?? null, controller.signal).then(
      (ready) => {
        if (ready) controller.abort();
      },
      () => controller.abort(),
    ),
  );
  try {
    await Promise.race([Promise.all(polls), new Promise((r) => controller.signal.addEventListener('abort', r, { once: true }))]);
  } finally {
    controller.abort(); // the other polls stop, whatever ended the wait
  }
  return readyNow();
}
