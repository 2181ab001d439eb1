// The public surface: re-exports only.
export * from './errors.js';
export { SharedMemory, ShareableList } from './shared_memory.js';
export type { SharedMemoryOptions, ShareableItem, ShareableListOptions, ShareableValue } from './shared_memory.js';
export { Lock, RLock } from './synchronize.js';
export type { AcquireOptions } from './synchronize.js';
export { Value, RawValue, RawArray, SharedArray as Array } from './sharedctypes.js';
export type {
  ArrayInit,
  LockLike,
  RawSharedValue,
  SharedArrayExtras,
  SharedArrayOf,
  SharedArrayTypes,
  SharedCharArray,
  SharedFloat32Array,
  SharedFloat64Array,
  SharedInt8Array,
  SharedInt16Array,
  SharedInt32Array,
  SharedBigInt64Array,
  SharedBigUint64Array,
  SharedOptions,
  SharedUint8Array,
  SharedUint16Array,
  SharedUint32Array,
  SharedWcharArray,
  Synchronized,
  ValueInit,
  ValueOf,
} from './sharedctypes.js';
export type { Typecode, TypecodeOrCtype, CtypeName } from './ctypes.js';
