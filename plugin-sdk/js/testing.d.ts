// Types of wsgate-plugin/testing: a stand-in gateway for unit tests under node --test.
import type { AcceptDecision, Command, Connection, ConnectionId, Request, definePlugin } from "./index.js";
type Handler = ReturnType<typeof definePlugin>;
export declare class TestGateway {
  constructor(handler: Handler);
  handler: Handler;
  logs: [string, string][];
  /** The commits of calls of several events: `[handled, number of commands]`. */
  commits: [number, number][];
  conn(id: ConnectionId): Connection;
  attachmentText(id: ConnectionId): string;
  rooms(id: ConnectionId): string[];
  accept(id: ConnectionId, request?: Partial<Request>): { decision: AcceptDecision; commands: Command[] };
  connect(id: ConnectionId, options?: { user?: string | null; attachment?: Uint8Array | string; rooms?: string[]; path?: string }): Command[];
  message(id: ConnectionId, text: string): Command[];
  messages(pairs: [ConnectionId, string][]): Command[];
  binary(id: ConnectionId, data: Uint8Array | string): Command[];
  error(id: ConnectionId, kind: string, message?: string): Command[];
  close(id: ConnectionId, code?: number, reason?: string): Command[];
  timer(key: string, data?: Uint8Array | string): Command[];
  reload(next: Handler): void;
  apply(commands: Command[]): void;
}
