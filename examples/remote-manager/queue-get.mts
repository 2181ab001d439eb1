// Client 2 of the remote manager pattern: take the message off the served queue.
//
//   QueueManager.register('get_queue')
//   m = QueueManager(address=('foo.bar.org', 50000), authkey=b'abracadabra')
//   m.connect()
//   queue = m.get_queue()
//   queue.get()
//
// Run: npx tsx examples/remote-manager/queue-get.mts  (HOST=foo.bar.org for another machine)
import * as mp from 'multiprocessing';

class QueueManager extends mp.BaseManager {
  // register() adds the method; this line tells TypeScript about it.
  declare getQueue: () => Promise<mp.AutoProxy>;
}
QueueManager.register('getQueue');

const m = new QueueManager({ address: [process.env.HOST ?? '127.0.0.1', Number(process.env.PORT ?? 50000)], authkey: 'abracadabra' });
await m.connect();
const queue = await m.getQueue();
console.log('got', await queue.get());
