// Reconnect delays, shared by both transports.

const DELAYS_MS = [250, 1000, 2000, 4000, 8000, 15000];

/** The wait before reconnect number `attempt` (from 0), with ±20 % jitter so tabs do not reconnect in step. */
function backoff(attempt) {
  const base = DELAYS_MS[Math.min(attempt, DELAYS_MS.length - 1)];
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** The wait before reopening a stream after `failures` failures (from 1), without jitter. */
export function retryDelay(failures) {
  return DELAYS_MS[Math.min(failures - 1, DELAYS_MS.length - 1)];
}

/**
 * Call `link.start()` again after the backoff for `link.attempts`, showing the countdown in the
 * connection status. Nothing happens while a reconnect is already scheduled or the link is stopped.
 */
export function reconnectLater(link, detail) {
  if (link.stopped || link.timer) return;
  const delay = backoff(link.attempts);
  link.attempts += 1;
  const seconds = Math.max(1, Math.round(delay / 1000));
  link.hooks.dispatch({ type: "conn", state: "offline", text: `Connection lost; retrying in ${seconds} s…`, detail });
  link.timer = setTimeout(() => link.start(), delay);
}
