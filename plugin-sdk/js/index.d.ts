// Types of wsgate-plugin, written against wit/plugin.wit (wsgate:plugin@0.2.0).
export type ConnectionId = number;
export interface Connection { id: ConnectionId; user: string | null; attachment: Uint8Array }
export type Payload = { tag: "text"; val: string } | { tag: "binary"; val: Uint8Array };
export type Command = { tag: string; val: unknown };
export interface Request { path: string; query: string; headers: [string, string][]; remoteAddr: string; subprotocols: string[] }
export type AcceptDecision = { tag: "allow"; val: unknown } | { tag: "deny"; val: { status: number; reason: string } };
type Out = Command | Command[] | void;
export interface Hooks {
  onAccept?(conn: ConnectionId, request: Request): AcceptDecision;
  onConnect?(conn: Connection): Out;
  onMessage?(conn: Connection, text: string): Out;
  onBinary?(conn: Connection, data: Uint8Array): Out;
  onError?(conn: Connection, error: { kind: string; message: string }): Out;
  onClose?(conn: Connection, code: number, reason: string): Out;
  onTimer?(key: string, data: Uint8Array): Out;
  onBackend?(name: string, payload: Uint8Array): Out;
  snapshot?(): Uint8Array | string;
  restore?(state: Uint8Array): void;
}
export declare function definePlugin(hooks: Hooks): {
  onAccept(conn: ConnectionId, request: Request): AcceptDecision;
  handle(events: { tag: string; val: any }[]): Command[];
  snapshot(): Uint8Array;
  restore(state: Uint8Array): void;
};
export declare function jsonState<T>(get: () => T, set: (state: T) => void): Pick<Hooks, "snapshot" | "restore">;
export declare const CloseCode: Readonly<Record<string, number>>;
export declare function send(conn: Connection | ConnectionId, message: string | Uint8Array): Command;
export declare function sendBinary(conn: Connection | ConnectionId, data: Uint8Array | string): Command;
export declare function broadcast(message: string | Uint8Array, except?: (Connection | ConnectionId)[]): Command;
export declare function publish(room: string, message: string | Uint8Array, except?: (Connection | ConnectionId)[]): Command;
export declare function close(conn: Connection | ConnectionId, code?: number, reason?: string): Command;
export declare function join(conn: Connection | ConnectionId, room: string): Command;
export declare function leave(conn: Connection | ConnectionId, room: string): Command;
export declare function sendUser(user: string, message: string | Uint8Array): Command;
export declare function closeUser(user: string, code?: number, reason?: string): Command;
export declare function setAttachment(conn: Connection | ConnectionId, data: Uint8Array | string): Command;
export declare function setTimer(key: string, delayMs: number, options?: { repeatMs?: number; data?: Uint8Array | string }): Command;
export declare function cancelTimer(key: string): Command;
export declare function allow(options?: { subprotocol?: string | null; user?: string | null; attachment?: Uint8Array | string; rooms?: string[] }): AcceptDecision;
export declare function deny(status: number, reason?: string): AcceptDecision;
export declare function encodeUtf8(text: string): Uint8Array;
export declare function decodeUtf8(data: Uint8Array): string;

// The host reads (the contract's `host` interface): answered at once from what the
// gateway holds for this app on this node.
export interface ConnectionDetails {
  path: string; query: string; remoteAddr: string; subprotocol: string | null; user: string | null;
  attachment: Uint8Array; connectedAtMs: number; bufferedBytes: number; open: boolean;
}
export declare function roomSize(room: string): number;
export declare function roomMembers(room: string): ConnectionId[];
export declare function roomsOf(conn: Connection | ConnectionId): string[];
export declare function userConnections(user: string): ConnectionId[];
export declare function connectionInfo(conn: Connection | ConnectionId): ConnectionDetails | null;
type LogLine = (message: unknown) => void;
export declare const log: Readonly<{ trace: LogLine; debug: LogLine; info: LogLine; warn: LogLine; error: LogLine }>;
export interface Host {
  log(level: "trace" | "debug" | "info" | "warn" | "error", message: string): void;
  /** Runs `commands` now, as the answer to the first `handled` events of the call. */
  commit(handled: number, commands: Command[]): void;
  roomSize(room: string): number;
  roomMembers(room: string): ConnectionId[];
  roomsOf(conn: ConnectionId): string[];
  userConnections(user: string): ConnectionId[];
  connectionInfo(conn: ConnectionId): ConnectionDetails | null;
}
export declare function installHost(host: Host): void;
export declare function queryParam(query: string, name: string): string | null;
