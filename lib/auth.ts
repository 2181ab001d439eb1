// The authkey handshake of Python 3.12's multiprocessing.connection, byte for byte, so
// that either side can be CPython. The side that delivers a challenge sends
// "#CHALLENGE#" + "{sha256}" + 40 random bytes; the other answers "{sha256}" + the
// HMAC-SHA256 of that whole challenge ("{sha256}" included) under the key; the first
// replies "#WELCOME#" or "#FAILURE#". Listener
// delivers then answers, Client answers then delivers: both prove the key. Every
// handshake read is capped at 256 bytes, so a peer cannot make us allocate before it has
// proven anything. Legacy peers (3.11 and older) answer with a bare 16-byte HMAC-MD5;
// that is accepted as CPython 3.12 accepts it.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError } from './errors.js';
import type { SocketConnection } from './socket_connection.js';
import { describe } from './validate.js';

const CHALLENGE = Buffer.from('#CHALLENGE#');
const WELCOME = Buffer.from('#WELCOME#');
const FAILURE = Buffer.from('#FAILURE#');
const MESSAGE_LENGTH = 40;
const MD5ONLY_MESSAGE_LENGTH = 20;
const MD5_DIGEST_LEN = 16;
const HANDSHAKE_MAX = 256;
const DIGEST = 'sha256';
/** Python's names (sha3_256) mapped to Node's (sha3-256). */
const ALLOWED: Record<string, string> = { md5: 'md5', sha256: 'sha256', sha384: 'sha384', sha3_256: 'sha3-256', sha3_384: 'sha3-384' };

/** An authkey option as bytes (strings as UTF-8), or null for none. */
export function authkeyArg(name: string, key: unknown): Buffer | null {
  if (key === undefined || key === null) return null;
  if (typeof key === 'string') return Buffer.from(key, 'utf8');
  if (ArrayBuffer.isView(key)) return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  throw new TypeError(`${name} must be a Buffer, Uint8Array or string, got ${describe(key)}`);
}

const MAX_DIGEST_LEN = 8; // 'sha3_256'

/**
 * [digest name, payload] of a challenge or response (Python's _get_digest_name_and_payload):
 * '' for the legacy forms (a 20-byte challenge, a bare 16-byte HMAC-MD5 answer).
 */
function digestAndPayload(message: Buffer): [string, Buffer] {
  if (message.length === MD5ONLY_MESSAGE_LENGTH || message.length === MD5_DIGEST_LEN) return ['', message];
  if (message[0] === 0x7b /* { */) {
    const curly = message.subarray(0, MAX_DIGEST_LEN + 2).indexOf(0x7d /* } */, 1);
    if (curly > 0) {
      const name = message.subarray(1, curly).toString('latin1');
      if (Object.hasOwn(ALLOWED, name)) return [name, message.subarray(curly + 1)];
    }
  }
  throw new AuthenticationError('unsupported message length, missing digest prefix, or unsupported digest');
}

/** The MAC covers the whole challenge, its {digest} prefix included. */
function hmac(key: Buffer, message: Buffer, digest: string): Buffer {
  return createHmac(ALLOWED[digest]!, key).update(message).digest();
}

/** Python's _create_response: legacy challenges get a bare HMAC-MD5. */
function createResponse(key: Buffer, message: Buffer): Buffer {
  const [digest] = digestAndPayload(message);
  if (digest === '') return hmac(key, message, 'md5');
  return Buffer.concat([Buffer.from(`{${digest}}`), hmac(key, message, digest)]);
}

/** Python's _verify_challenge: the answer names its digest (none: legacy MD5). */
function verifyResponse(key: Buffer, message: Buffer, response: Buffer): void {
  const [named, mac] = digestAndPayload(response);
  const digest = named || 'md5';
  const expected = hmac(key, message, digest);
  if (expected.length !== mac.length) {
    throw new AuthenticationError(`expected '${digest}' of length ${expected.length}, got ${mac.length}`);
  }
  if (!timingSafeEqual(expected, mac)) throw new AuthenticationError('digest received was wrong');
}

const tooBig = (size: number) => new AuthenticationError(`handshake message of ${size} bytes is longer than ${HANDSHAKE_MAX}`);

function recvCapped(conn: SocketConnection): Promise<Buffer> {
  return conn.recvBytesCapped(HANDSHAKE_MAX, tooBig);
}

/** Send a challenge and check the peer's answer (Python's deliver_challenge). */
export async function deliverChallenge(conn: SocketConnection, key: Buffer): Promise<void> {
  const message = Buffer.concat([Buffer.from(`{${DIGEST}}`), randomBytes(MESSAGE_LENGTH)]);
  await conn.sendBytes(Buffer.concat([CHALLENGE, message]));
  const response = await recvCapped(conn);
  try {
    verifyResponse(key, message, response);
  } catch (err) {
    await conn.sendBytes(FAILURE).catch(() => {});
    throw err;
  }
  await conn.sendBytes(WELCOME);
}

/** Answer the peer's challenge and read its verdict (Python's answer_challenge). */
export async function answerChallenge(conn: SocketConnection, key: Buffer): Promise<void> {
  let message = await recvCapped(conn);
  if (!message.subarray(0, CHALLENGE.length).equals(CHALLENGE)) {
    throw new AuthenticationError('protocol error: expected a challenge (does the other side use an authkey?)');
  }
  message = message.subarray(CHALLENGE.length);
  if (message.length < MD5ONLY_MESSAGE_LENGTH) throw new AuthenticationError(`challenge too short: ${message.length} bytes`);
  await conn.sendBytes(createResponse(key, message));
  const verdict = await recvCapped(conn);
  if (!verdict.equals(WELCOME)) throw new AuthenticationError('digest sent was rejected: the two sides have different authkeys');
}
