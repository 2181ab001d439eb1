// The forkserver zygote's first --require (lib/forkserver_main.ts puts it before the
// user's). It watches what a forked child must know about the zygote's past:
//  - any module.register() call, from a --require or --import module or a preloaded one,
//    so that the zygote stops forking (module hooks run on a thread of their own, which a
//    forked child would not have);
//  - any use of Node's caches of random bytes (crypto.randomInt: 6 KiB; randomUUID: 128
//    UUIDs). They start empty and fill on first use; filled here, every forked child would
//    draw the same values from its copy. A child drains only a cache used here (draining
//    costs a forked child 2-4 ms: its code runs cold and each page it writes is copied).
// See lib/zygote.ts.
import * as nodeModule from 'node:module';
import * as nodeCrypto from 'node:crypto';
import { hasFlag, nodeOptionsArgs } from './node_options.js';

const HOOKS = Symbol.for('multiprocessing.zygote.hooksRegistered');
const RANDOM = Symbol.for('multiprocessing.zygote.randomCachesUsed');
const global = globalThis as Record<symbol, unknown>;
const randomUsed = { int: false, uuid: false };
global[RANDOM] = randomUsed;

/** Replace owner[name] by a function that calls note() first; false when it cannot. */
function watch(owner: object, name: string, note: () => void): boolean {
  const d = Object.getOwnPropertyDescriptor(owner, name);
  const original = d?.value;
  if (typeof original !== 'function' || !(d!.writable || d!.configurable)) return false;
  const watched = {
    [name](this: unknown, ...args: unknown[]) {
      note();
      return original.apply(this, args);
    },
  }[name]!;
  Object.defineProperty(watched, 'length', { value: original.length }); // as the original
  Object.defineProperty(owner, name, { ...d, value: watched });
  return true;
}

const mod = nodeModule as unknown as { syncBuiltinESMExports(): void };
watch(nodeModule, 'register', () => {
  global[HOOKS] = true;
});
const crypto = nodeCrypto as unknown as { webcrypto: object };
if (!watch(crypto, 'randomInt', () => (randomUsed.int = true))) randomUsed.int = true;
const noteUuid = () => {
  randomUsed.uuid = true;
};
// randomUUID of node:crypto, of the Web Crypto object (globalThis.crypto, same cache) and
// the one URL.createObjectURL draws: where one cannot be watched, assume it is used.
const uuidsWatched =
  watch(crypto, 'randomUUID', noteUuid) &&
  watch(Object.getPrototypeOf(crypto.webcrypto) as object, 'randomUUID', noteUuid) &&
  watch(URL, 'createObjectURL', noteUuid);
if (!uuidsWatched) randomUsed.uuid = true;
// A NODE_OPTIONS --require module ran before this one: it may have used them unseen.
if (hasFlag(nodeOptionsArgs(), ['-r', '--require'])) {
  randomUsed.int = true;
  randomUsed.uuid = true;
}
mod.syncBuiltinESMExports(); // `import { randomInt } from 'node:crypto'` sees the watchers too
