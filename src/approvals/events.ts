/** Approval events are built where the records are kept (src/state); re-exported for the domain. */
export { approvalEvent, EXPIRY_ANNOUNCE_WINDOW_MS, isLapsedUnannounced, type ApprovalEventSink } from '../state/events.js';
