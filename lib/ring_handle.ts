// The field of a queue's or a pipe's handle that names its ring: a block big enough for
// a ring's header and the smallest ring, checked before Ring.attach reads that header.
import { blockField } from './heap.js';

/** ring.ts's header (HEADER_BYTES) plus its smallest capacity; kept here while ring.ts is reworked elsewhere. */
const SMALLEST_RING_BYTES = 768 + 64;

export const ringField = blockField(SMALLEST_RING_BYTES);
