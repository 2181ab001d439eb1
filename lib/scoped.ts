// A value that holds for the duration of one synchronous call and then reverts, a
// thread-local in spirit: whom a manager server calls a method for, how a decode revives
// proxy tokens, whether an encode or decode belongs to a socket transport.
export class Scoped<T> {
  #value: T;

  constructor(initial: T) {
    this.#value = initial;
  }

  get value(): T {
    return this.#value;
  }

  /** Run `fn` with `value` in force; the previous value is back afterwards, however `fn` ends. */
  run<R>(value: T, fn: () => R): R {
    const previous = this.#value;
    this.#value = value;
    try {
      return fn();
    } finally {
      this.#value = previous;
    }
  }
}
