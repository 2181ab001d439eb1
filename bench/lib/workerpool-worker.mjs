// The worker script of the workerpool lines (threads and processes): the tasks of
// bench/lib/peer-worker.mjs, registered by name.
import workerpool from 'workerpool';
import * as tasks from './peer-worker.mjs';

workerpool.worker({ ...tasks });
