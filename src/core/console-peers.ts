/** Reaching a console another HIL process holds: what core needs, the API's internal routes provide (src/api/console-peers.ts). */
/** Another process, as its process row says it is reached. */
export interface ConsolePeer {
  address: string;
  token: string;
}

/** How a process reads, types into and fetches the log of a console another process holds (the API's internal routes). */
export interface ConsolePeers {
  /** The live console there; fails (rather than ends) when that process stops holding it or goes away. */
  stream(peer: ConsolePeer, nodeId: number, signal: AbortSignal): AsyncIterable<Uint8Array>;
  log(peer: ConsolePeer, nodeId: number, projectId: number | null): Promise<Buffer>;
  write(peer: ConsolePeer, nodeId: number, data: Uint8Array): Promise<void>;
}
