// How the host backend reaches a card: PC/SC in the gateway, or a card object in this
// process (the software module and fast tests).
import { UnavailableError } from "../module.ts";
import type { VirtualCard } from "../vcard/card.ts";

export interface CardTransport {
  /** Open (or reopen) the connection; UnavailableError when there is no reader or card. */
  connect(): Promise<void>;
  /** Whether `connect` succeeded and nothing has broken the connection since. */
  readonly connected: boolean;
  transmit(command: Uint8Array): Promise<Uint8Array>;
  /** Run `fn` with the card to ourselves (a PC/SC transaction). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Drop the connection (and, for PC/SC, the context); `connect` starts afresh. */
  disconnect(): Promise<void>;
  describe(): string;
}

/** The connection to the card broke; `connect` again before the next command. */
export class CardConnectionError extends UnavailableError {
  override name = "CardConnectionError";
}

/** A card object called directly, without PC/SC. */
export class DirectTransport implements CardTransport {
  connected = false;

  constructor(private readonly card: VirtualCard) {}

  async connect(): Promise<void> {
    if (!this.connected) this.card.reset();
    this.connected = true;
  }

  async transmit(command: Uint8Array): Promise<Uint8Array> {
    if (!this.connected) throw new CardConnectionError("not connected to the in-process card");
    return this.card.process(command);
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  async disconnect(): Promise<void> {
    this.connected = false;
  }

  describe(): string {
    return "in-process card";
  }
}
