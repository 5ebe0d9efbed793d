// One framed connection over a Bun socket: queues what the kernel did not take and
// flushes it on drain (Bun's socket.write may write partially).
import type { Socket } from "bun";
import { DEFAULT_MAX_FRAME, encodeFrame, FrameDecoder, type FrameResult } from "./frame.ts";

/** Bytes queued for a slow reader before the connection is given up. */
export const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

export class FramedChannel {
  readonly decoder: FrameDecoder;
  private queue: Uint8Array[] = [];
  private queued = 0;
  closed = false;

  constructor(
    readonly socket: Socket<unknown>,
    readonly maxFrame = DEFAULT_MAX_FRAME,
  ) {
    this.decoder = new FrameDecoder(maxFrame);
  }

  /** Decode incoming bytes into frames. */
  receive(chunk: Uint8Array): FrameResult[] {
    return this.decoder.push(chunk);
  }

  send(value: unknown): boolean {
    if (this.closed) return false;
    const frame = encodeFrame(value, this.maxFrame);
    if (this.queue.length > 0) return this.enqueue(frame);
    const n = this.socket.write(frame);
    if (n < frame.length) return this.enqueue(frame.subarray(Math.max(n, 0)));
    return true;
  }

  flush(): void {
    while (this.queue.length > 0 && !this.closed) {
      const head = this.queue[0] as Uint8Array;
      const n = this.socket.write(head);
      if (n < head.length) {
        this.queue[0] = head.subarray(Math.max(n, 0));
        this.queued -= Math.max(n, 0);
        return;
      }
      this.queue.shift();
      this.queued -= head.length;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.socket.end();
  }

  private enqueue(bytes: Uint8Array): boolean {
    if (this.queued + bytes.length > MAX_QUEUED_BYTES) {
      this.close();
      return false;
    }
    this.queue.push(bytes);
    this.queued += bytes.length;
    return true;
  }
}
