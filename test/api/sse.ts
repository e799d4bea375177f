export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/** Reads SSE messages from a live response until `stop` says enough or the timeout passes. */
export async function readSse(res: Response, stop: (all: SseMessage[]) => boolean, timeoutMs = 15_000): Promise<SseMessage[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const out: SseMessage[] = [];
  let buf = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline && !stop(out)) {
      const chunk = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now()))]);
      if (!chunk || chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const msg: SseMessage = { data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) msg.id = line.slice(4);
          else if (line.startsWith('event: ')) msg.event = line.slice(7);
          else if (line.startsWith('data: ')) msg.data += line.slice(6);
        }
        if (msg.event) out.push(msg);
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return out;
}
