// The remote manager pattern of Python's docs ("Using a remote manager"): a queue served
// on a TCP port, which any machine that knows the address and the authkey can use.
//
//   from multiprocessing.managers import BaseManager
//   from queue import Queue
//   queue = Queue()
//   class QueueManager(BaseManager): pass
//   QueueManager.register('get_queue', callable=lambda: queue)
//   m = QueueManager(address=('', 50000), authkey=b'abracadabra')
//   s = m.get_server()
//   s.serve_forever()
//
// Run: npx tsx examples/remote-manager/queue-server.mts   (Ctrl-C stops it)
// then the two clients, queue-put.mts and queue-get.mts, from other terminals or machines.
// PORT and HOST override the address (HOST=0.0.0.0 to accept other machines: the
// authkey is required then, and it is here).
import * as mp from 'multiprocessing';

export class QueueManager extends mp.BaseManager {}

export const PORT = Number(process.env.PORT ?? 50000);
export const AUTHKEY = 'abracadabra';

if (mp.isMainModule(import.meta)) {
  // The queue lives in this process; clients reach it through proxies.
  const queue = new mp.Queue();
  QueueManager.register('getQueue', () => queue);
  const m = new QueueManager({ address: [process.env.HOST ?? '127.0.0.1', PORT], authkey: AUTHKEY });
  const server = m.getServer();
  await server.listening();
  console.log(`serving a queue at ${JSON.stringify(server.address)}`);
  process.on('SIGINT', () => server.shutdown());
  process.on('SIGTERM', () => server.shutdown());
  await server.serveForever();
  queue.close();
  console.log('server stopped');
}
