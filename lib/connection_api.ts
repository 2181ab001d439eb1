// The mp.connection namespace (Python's multiprocessing.connection).
export { Connection } from './connection.js';
export { Client, Listener, wait } from './listener.js';
export type { Address, ClientOptions, Family, ListenerOptions, Waitable } from './listener.js';
