# What the scripts that run a test service on loopback (registry.sh, oidc.sh,
# kms.sh) share: the pid file, the readiness probe, starting the service in
# the background and waiting for it, stopping it, and the start|stop|url
# command line. Sourced, not run.
#
# The sourcing script sets
#   PORT        the port the service listens on (127.0.0.1 only)
#   PIDFILE     where the service's pid is kept
#   LOG         where its output goes
#   READY_PATH  a GET that answers 200 once the service serves
#   WHAT        what it is, for messages ("the registry")
#   START_TRIES how many tenths of a second to wait for it (default 100)
# and defines start(), which calls launch with the service's command line.

SCRIPT=$(basename "$0")

url() { echo "http://127.0.0.1:$PORT"; }

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# READY_PATH answers 200 (bash's /dev/tcp: no curl needed).
ready() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$READY_PATH" >&3
  IFS= read -r -t 2 line <&3 || line=
  exec 3<&- 3>&-
  [[ $line == HTTP/1.[01]\ 200* ]]
}

# An earlier start left the service running and it answers: start is idempotent.
serving() { running && ready; }

# launch COMMAND...: runs the service and prints its URL once it is ready;
# shows its log and fails when it exits or does not answer in time.
launch() {
  # setsid: the service outlives this script (and the shell that ran it).
  setsid "$@" >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 "${START_TRIES:-100}"); do
    if ready; then url; return 0; fi
    if ! running; then break; fi
    sleep 0.1
  done
  echo "$SCRIPT: $WHAT did not start; its log:" >&2
  cat "$LOG" >&2
  exit 1
}

stop() {
  if running; then
    kill "$(cat "$PIDFILE")" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

service_main() {
  case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
  esac
}
