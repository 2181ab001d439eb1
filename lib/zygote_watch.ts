// The forkserver zygote's first --require (lib/forkserver_main.ts puts it before the
// user's): notes any module.register() call, from a --require or --import module or a
// preloaded one, so that the zygote stops forking (module hooks run on a thread of their
// own, which a forked child would not have). See lib/zygote.ts.
import * as nodeModule from 'node:module';

const KEY = Symbol.for('multiprocessing.zygote.hooksRegistered');
const mod = nodeModule as unknown as { register?: (...args: unknown[]) => unknown; syncBuiltinESMExports(): void };
const register = mod.register;
if (typeof register === 'function') {
  mod.register = function (this: unknown, ...args: unknown[]) {
    (globalThis as Record<symbol, unknown>)[KEY] = true;
    return register.apply(this, args);
  };
  mod.syncBuiltinESMExports(); // `import { register } from 'node:module'` sees the wrapper too
}
