# Process helpers shared by hack/ scripts. The caller sets `pids` and `logs` (directories).
# Every process runs as its own process group, so stopping it also stops whatever it started.

say() { printf '%s\n' "$*" >&2; }
die() { say "${0##*/}: $*"; exit 1; }

started_at() { # started_at PID: the process's start time in clock ticks since boot (field 22 of stat)
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }" # the command name may hold spaces; the fields after it do not
  awk '{ print $20 }' <<<"$stat"
}

running() { # running PID: the process exists and is not a zombie waiting for its parent to reap it
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

alive() { # alive NAME: the recorded process still runs (the same one: pids get reused after a reboot)
  local pidfile="$pids/$1.pid" pid recorded
  [[ -f "$pidfile" ]] || return 1
  read -r pid recorded _ <"$pidfile"
  [[ -n "$recorded" && "$(started_at "$pid")" == "$recorded" ]] && running "$pid"
}

start() { # start NAME CMD...: run CMD as its own process group, log to logs/NAME.log, remember its pid
  local name="$1"; shift
  if alive "$name"; then return 0; fi
  mkdir -p "$pids" "$logs"
  setsid "$@" >>"$logs/$name.log" 2>&1 < /dev/null &
  echo "$! $(started_at $!) $(</proc/sys/kernel/random/boot_id)" >"$pids/$name.pid"
}

stop() { # stop NAME: TERM the process group, KILL what is left after 10 s
  local pidfile="$pids/$1.pid" pid boot ours=""
  [[ -f "$pidfile" ]] || return 0
  read -r pid _ boot <"$pidfile"
  if alive "$1"; then
    ours=yes
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done
  fi
  # Members that outlived their leader keep its process group id, which no new process can take while they
  # live. The id is ours to kill if its leader was ours, or if no process has that pid at all; after a
  # reboot (other boot id) or with the pid taken by another process, it means nothing.
  if [[ "$boot" == "$(</proc/sys/kernel/random/boot_id)" && ( -n "$ours" || ! -e "/proc/$pid" ) ]]; then
    pkill -KILL -g "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

wait_for() { # wait_for WHAT SECONDS CMD...: poll CMD until it succeeds
  local what="$1" limit="$2"; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || die "$what not ready after ${limit}s (logs in $logs)"
    sleep 0.2
  done
}

elapsed() { # elapsed LABEL START: print the seconds since START
  awk -v label="$1" -v t0="$2" -v t1="$EPOCHREALTIME" 'BEGIN { printf "  %-22s %6.1fs\n", label, t1 - t0 }' >&2
}

timed() { # timed LABEL CMD...: run CMD and report how long it took
  local label="$1"; shift
  local t0=$EPOCHREALTIME
  "$@"
  elapsed "$label" "$t0"
}
