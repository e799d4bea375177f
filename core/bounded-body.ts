/**
 * Reads at most `maxBytes` of a fetch response body and discards the rest by
 * cancelling the stream (the connection closes instead of being reused): a
 * peer answering with gigabytes costs at most one chunk past the limit.
 */
export async function readBoundedBody(res: Response, maxBytes: number): Promise<Buffer> {
  const reader = res.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = maxBytes - total;
      chunks.push(value.byteLength > room ? value.subarray(0, room) : value);
      total += Math.min(value.byteLength, room);
      if (total >= maxBytes) {
        await reader.cancel().catch(() => {});
        break;
      }
    }
  } catch {
    // A body cut short is as good as one read whole: only its first bytes are wanted.
  }
  return Buffer.concat(chunks);
}
