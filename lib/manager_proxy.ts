// Proxies: the client's handle on an object that lives in a manager server (Python's
// BaseProxy and AutoProxy). Every method call is a request over the process's one
// connection to that server and returns a Promise.
//
// A proxy holds one reference on the server. A proxy made from a reply adopts the
// reference the server counted when it sent the token; one revived anywhere else (a
// child's arguments, a queue message) asks for its own with an incref first. When the
// proxy is garbage collected its reference is given back; when the process ends, the
// server drops whatever its connection still held.
import { anyText, either, integer, list, optional, text, tuple } from './handle_shape.js';
import { currentProcess } from './process.js';
import { ManagerConnection, describeAddress, setProxyFactory } from './manager_client.js';
import { PROXY_KIND, type Token, revivalContext } from './manager_protocol.js';
import { HANDLE_KIND, type SharedHandle, overNetwork, registerReviver, toHandle } from './reduction.js';
import { describe } from './validate.js';

const kToken: unique symbol = Symbol('multiprocessing.proxy.token');
const kConn: unique symbol = Symbol('multiprocessing.proxy.connection');

interface Held {
  conn: ManagerConnection;
  id: number;
}

const references = new FinalizationRegistry<Held>(({ conn, id }) => conn.notify(0, 'decref', [id]));

/** A proxy class: built from a token and the connection to its server. */
export type ProxyClass = new (token: Token, conn: ManagerConnection) => BaseProxy;

const proxyClasses = new Map<string, ProxyClass>();

/** @internal Name a proxy class so tokens can ask for it ('' is AutoProxy). */
export function registerProxyClass(name: string, C: ProxyClass): void {
  proxyClasses.set(name, C);
}

/** The proxy of a managed object. Subclasses give its methods names; _callmethod reaches any exposed one. */
export class BaseProxy {
  /** @internal */
  readonly [kToken]: Token;
  /** @internal */
  readonly [kConn]: ManagerConnection;

  /** @internal Proxies are made by managers and by receiving tokens. */
  constructor(token: Token, conn: ManagerConnection) {
    this[kToken] = token;
    this[kConn] = conn;
    references.register(this, { conn, id: token.id });
  }

  /** The managed object's typeid ('dict', 'Lock', or a registered one). */
  get typeid(): string {
    return this[kToken].typeid;
  }

  /** Call `methodname` of the managed object with `args` (it must be exposed). */
  _callmethod(methodname: string, args: readonly unknown[] = []): Promise<unknown> {
    if (typeof methodname !== 'string') return Promise.reject(new TypeError(`methodname must be a string, got ${describe(methodname)}`));
    if (!Array.isArray(args)) return Promise.reject(new TypeError(`args must be an array, got ${describe(args)}`));
    return this[kConn].call(this[kToken].id, methodname, args as unknown[]);
  }

  /** A copy of the managed object's value. */
  _getvalue(): Promise<unknown> {
    return this[kConn].call(this[kToken].id, '#GETVALUE', []);
  }

  /** @internal How the proxy travels: its token, with the key a local receiver needs. */
  [toHandle](): SharedHandle {
    const token = this[kToken];
    const conn = this[kConn];
    const key = conn.authkey;
    const carryKey = key !== null && !overNetwork() && !key.equals(currentProcess().authkey);
    const { authkey: _drop, ...rest } = token;
    return { ...rest, address: conn.address, ...(carryKey ? { authkey: key.toString('hex') } : {}) } as Token;
  }

  toString(): string {
    const t = this[kToken];
    return `<${this.constructor.name} object, typeid '${t.typeid}' at ${describeAddress(this[kConn].address)}, id ${t.id}>`;
  }

  /** @internal for util.inspect */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/** A proxy whose methods are whatever the server exposes for its object (Python's AutoProxy). */
export class AutoProxy extends BaseProxy {
  [method: string]: unknown;

  constructor(token: Token, conn: ManagerConnection) {
    super(token, conn);
    for (const name of token.exposed) {
      if (name in this) continue; // never shadow the proxy's own members
      Object.defineProperty(this, name, {
        value: (...args: unknown[]) => this._callmethod(name, args),
        enumerable: false,
        configurable: true,
      });
    }
  }
}

/** The token of a proxy (its server, object id, typeid). */
export function tokenOf(proxy: BaseProxy): Token {
  return proxy[kToken];
}

/** The connection a proxy calls through. */
export function connectionOf(proxy: BaseProxy): ManagerConnection {
  return proxy[kConn];
}

function makeProxy(token: Token, conn: ManagerConnection): BaseProxy {
  const C = proxyClasses.get(token.proxy) ?? AutoProxy;
  return new C(token, conn);
}

setProxyFactory(makeProxy);

/** A token as a handle (see Token). */
const TOKEN_SHAPE = {
  server: anyText,
  address: either(text, tuple(anyText, integer(0, 65535)), "['host', port] or a socket path"),
  id: integer(0),
  typeid: text,
  exposed: list(anyText),
  proxy: anyText,
  authkey: optional(anyText),
};

/**
 * A token of another manager inside a server's request: kept as data and sent back out
 * as the same token. The server never connects anywhere because of a request (a client
 * could otherwise make it authenticate, with this process tree's key, to any address).
 */
class ForeignToken {
  readonly #token: Token;
  constructor(token: Token) {
    this.#token = token;
  }
  [toHandle](): SharedHandle {
    const { authkey: _drop, ...rest } = this.#token;
    return rest as Token;
  }
}

registerReviver(PROXY_KIND, TOKEN_SHAPE, (checked) => {
  const h = checked as Token;
  const ctx = revivalContext();
  if (ctx?.referent !== undefined) {
    // Inside its own server, a token is the object itself (a list stored in a dict).
    return ctx.serverId === h.server ? ctx.referent(h.id) : new ForeignToken(h);
  }
  let key: Buffer | null;
  if (ctx?.replyFrom !== undefined) {
    // In a reply of the token's own server: the reference was counted for this connection.
    if (ctx.replyFrom.serverId === h.server) return ctx.replyFrom.adopt(h);
    // Another manager's token that a server sent: use that server's key, never this
    // process's own (a server must not be able to make us authenticate elsewhere).
    key = ctx.replyFrom.authkey;
  } else if (overNetwork()) {
    // From a socket (mp.connection): whoever sent it must not learn an answer made with
    // this process's key either. Such a proxy reaches only a manager without an authkey.
    key = null;
  } else key = h.authkey !== undefined ? Buffer.from(h.authkey, 'hex') : currentProcess().authkey;
  const conn = ManagerConnection.for(h.address, key);
  conn.notify(0, 'incref', [h.id]);
  return makeProxy(h, conn);
});

export { HANDLE_KIND };
