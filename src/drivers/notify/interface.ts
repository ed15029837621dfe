/** Services HIL tells about events, outside any transaction (upstream's maintenance pool). */
export interface Notifier {
  /** Tells the service that `node` entered the maintenance project. Best effort: failures are the notifier's to log. */
  nodeArrived(node: string): Promise<void>;
}
