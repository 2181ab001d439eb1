// The field of a queue's or a pipe's handle that names its ring: a block big enough for
// a ring's header and the smallest ring, checked before Ring.attach reads that header.
import { blockField } from './heap.js';
import { HEADER_BYTES, MIN_CAPACITY } from './ring.js';

export const ringField = blockField(HEADER_BYTES + MIN_CAPACITY);
