/**
 * Task and return payloads as stored: JSON text, at most MAX_PAYLOAD_BYTES. Kept apart from the
 * record so that the record (which errors.ts refers to) does not import the errors.
 */
import { InvalidPayloadError } from './errors';
import { MAX_PAYLOAD_BYTES } from './record';

/** Serializes a payload for storage, rejecting what is not JSON or is over the limit. */
export function encodePayload(payload: unknown, what = 'payload'): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (error) {
    throw new InvalidPayloadError(`${what} is not JSON-serializable: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) {
    throw new InvalidPayloadError(`${what} is not JSON-serializable (given ${typeof payload})`);
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new InvalidPayloadError(
      `${what} is ${bytes} bytes of JSON; the limit is ${MAX_PAYLOAD_BYTES} bytes (128 KiB) — put larger inputs in S3 and pass their location`,
      { details: { bytes, limit: MAX_PAYLOAD_BYTES } },
    );
  }
  return text;
}

/** Parses a JSON text payload (from the CLI or a trigger), naming the limit and the parse error. */
export function parsePayloadText(text: string, what = 'payload'): unknown {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new InvalidPayloadError(
      `${what} is ${bytes} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes (128 KiB) — put larger inputs in S3 and pass their location`,
      { details: { bytes, limit: MAX_PAYLOAD_BYTES } },
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    throw new InvalidPayloadError(`${what} is not valid JSON (${(error as Error).message}); given '${shown}'`, {
      cause: error,
    });
  }
}
