// The public surface: re-exports only.
export * from './errors.js';
export { SharedMemory } from './shared_memory.js';
export type { SharedMemoryOptions } from './shared_memory.js';
export { ShareableList } from './shareable_list.js';
export type { ShareableItem, ShareableListOptions, ShareableValue } from './shareable_list.js';
export { Lock, RLock } from './synchronize.js';
export type { AcquireOptions } from './synchronize.js';
export { BoundedSemaphore, Semaphore } from './semaphore.js';
export { Condition } from './condition.js';
export { Event } from './event.js';
export { Barrier } from './barrier.js';
export type { BarrierOptions } from './barrier.js';
export { Value, RawValue } from './sharedctypes.js';
export type { LockLike, RawSharedValue, SharedOptions, Synchronized, ValueInit, ValueOf } from './sharedctypes.js';
export { RawArray, SharedArray as Array } from './shared_array.js';
export type {
  ArrayInit,
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
  SharedUint8Array,
  SharedUint16Array,
  SharedUint32Array,
  SharedWcharArray,
} from './shared_array.js';
export type { Typecode, TypecodeOrCtype, CtypeName } from './ctypes.js';
export { Process, activeChildren, cpuCount, currentProcess, parentProcess } from './process.js';
export type { ParentProcess, ProcessOptions, TargetReference } from './process.js';
export { isMainModule } from './main_module.js';
export type { ModuleRef } from './main_module.js';
export { getAllStartMethods, getContext, getStartMethod, setForkserverPreload, setStartMethod } from './context.js';
export type { Context, GetStartMethodOptions, SetStartMethodOptions, StartMethod } from './context.js';
export { JoinableQueue, Queue, SimpleQueue } from './queues.js';
export type { GetOptions, PutOptions } from './queues.js';
export { Connection } from './connection.js';
export { Pipe } from './pipe.js';
export type { PipeOptions } from './pipe.js';
export * as connection from './connection_api.js';
export { Pool } from './pool.js';
export type { ApplyOptions, IMapOptions, MapOptions, PoolOptions, TaskOptions } from './pool.js';
export { AsyncResult } from './async_result.js';
export { ProcessPoolExecutor } from './futures.js';
export type { ExecutorMapOptions, FunctionReference, ProcessPoolExecutorOptions, ShutdownOptions } from './futures.js';
export { BaseManager, Manager, SyncManager } from './managers.js';
export type { ManagedCallable, ManagerOptions, RegisterOptions } from './managers.js';
export { SharedMemoryManager } from './shared_memory_manager.js';
export { AutoProxy, BaseProxy } from './manager_proxy.js';
export type { ProxyClass } from './manager_proxy.js';
export {
  AcquirerProxy,
  ArrayProxy,
  BarrierProxy,
  ConditionProxy,
  DictProxy,
  EventProxy,
  JoinableQueueProxy,
  ListProxy,
  NamespaceProxy,
  QueueProxy,
  SemaphoreProxy,
  ValueProxy,
} from './manager_proxies.js';
export type { DictKey } from './manager_proxies.js';
export type { Server as ManagerServer } from './manager_server.js';
