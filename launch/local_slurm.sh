#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost (slurmctld, slurmd, slurmdbd + MariaDB, munge), for
# trying the SLURM launcher and for the tests marked `slurm`. Needs root and Debian's packages:
#   apt-get install -y --no-install-recommends slurmctld slurmd slurm-client slurmdbd munge mariadb-server
# Usage: launch/local_slurm.sh start DIR   -> prints `export SLURM_CONF=DIR/slurm.conf`
#        launch/local_slurm.sh stop DIR    -> stops the daemons by their PID files
set -euo pipefail
cmd=${1:?usage: local_slurm.sh start|stop DIR}
dir=$(mkdir -p "${2:?state directory}" && cd "$2" && pwd)
here=$(cd "$(dirname "$0")/local_slurm" && pwd)
CTLD_PORT=${CTLD_PORT:-16817} SLURMD_PORT=${SLURMD_PORT:-16818} DBD_PORT=${DBD_PORT:-16819} DB_PORT=${DB_PORT:-16820}

stop() {
  for name in slurmd slurmctld slurmdbd mysqld munged; do
    pidfile="$dir/$name.pid"
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
}

wait_for() {  # wait_for SECONDS COMMAND...
  local t=$1; shift
  for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "local_slurm: timed out waiting for: $*" >&2; return 1
}

start() {
  stop
  mkdir -p "$dir/state" "$dir/spool"
  for f in slurm.conf slurmdbd.conf; do
    sed -e "s#@DIR@#$dir#g" -e "s#@CTLD_PORT@#$CTLD_PORT#" -e "s#@SLURMD_PORT@#$SLURMD_PORT#" \
        -e "s#@DBD_PORT@#$DBD_PORT#" -e "s#@DB_PORT@#$DB_PORT#" "$here/$f" > "$dir/$f"
  done
  chmod 600 "$dir/slurmdbd.conf"
  export SLURM_CONF="$dir/slurm.conf"

  # munged refuses to run as root: run it as the munge user (its PID file must be in a directory
  # that user owns; the state directory may not be reachable for it).
  [ -f /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; }
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid --force
  cp /run/munge/munged.pid "$dir/munged.pid"
  wait_for 10 munge -n

  if [ ! -d "$dir/mysql/mysql" ]; then
    mysql_install_db --datadir="$dir/mysql" --user=root --auth-root-authentication-method=normal >"$dir/mysql_install.log" 2>&1
  fi
  mysqld --datadir="$dir/mysql" --user=root --port="$DB_PORT" --bind-address=127.0.0.1 \
    --socket="$dir/mysql.sock" --pid-file="$dir/mysqld.pid" --log-error="$dir/mysqld.log" &
  wait_for 30 mysqladmin --socket="$dir/mysql.sock" -uroot ping
  mysql --socket="$dir/mysql.sock" -uroot -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1'; FLUSH PRIVILEGES;"

  slurmdbd
  wait_for 30 sacctmgr -i list cluster
  sacctmgr -i add cluster sbtest >/dev/null 2>&1 || true
  sacctmgr -i add account default Cluster=sbtest >/dev/null 2>&1 || true
  sacctmgr -i add user root Account=default >/dev/null 2>&1 || true
  slurmctld
  slurmd -N localhost
  wait_for 30 sh -c "sinfo -h -o %T | grep -qx idle"
  echo "export SLURM_CONF=$SLURM_CONF"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: local_slurm.sh start|stop DIR" >&2; exit 2 ;;
esac
