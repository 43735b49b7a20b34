#!/usr/bin/env bash
# Bring up a single-node Slurm with accounting on localhost for the cluster tests:
# munge, MariaDB + slurmdbd, slurmctld and slurmd, as root, without systemd or cgroups.
# Every daemon's PID goes to $BASE/run/<name>.pid; stop.sh tears them down by those PIDs only.
# Env: BASE (state folder, default /tmp/xtalgen-slurm), INSTALL (1: apt-get the packages if missing).
set -euo pipefail

BASE=${BASE:-/tmp/xtalgen-slurm}
INSTALL=${INSTALL:-1}
CLUSTER=xtalgen PARTITION=debug ACCOUNT=xtalgen DBPASS=xtalgen-slurmdb
RUN=$BASE/run LOG=$BASE/log
started=$(date +%s)
say() { echo "[slurm +$(( $(date +%s) - started ))s] $*"; }
waitfor() { # SECONDS WHAT CMD...: poll CMD until it succeeds
  local tries=$(( $1 * 4 )) what=$2; shift 2
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "timed out waiting for $what (logs in $LOG)" >&2; return 1
}

[ "$(id -u)" = 0 ] || { echo "Slurm bring-up needs root (daemons and /etc/slurm)" >&2; exit 3; }
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
  [ "$INSTALL" = 1 ] || { echo "slurmctld/slurmdbd/mariadbd missing and INSTALL=0" >&2; exit 3; }
  # Package installs must not try to start services (there is no init system to start them).
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge slurmdbd mariadb-server >/dev/null
  say "packages installed"
fi

HOST=$(hostname -s)
getent hosts "$HOST" >/dev/null || echo "127.0.0.1 $HOST" >> /etc/hosts
rm -rf "$BASE"
mkdir -p "$RUN" "$LOG" "$BASE/ctld" "$BASE/spool" "$BASE/mysql"
chown slurm:slurm "$BASE/ctld" "$LOG"   # slurmctld drops to the slurm user
chown mysql:mysql "$BASE/mysql"

read -r CPUS BOARDS SOCKETS CORES THREADS < <(slurmd -C | head -1 | tr ' ' '\n' | awk -F= \
  '{v[$1]=$2} END {print v["CPUs"], v["Boards"], v["SocketsPerBoard"], v["CoresPerSocket"], v["ThreadsPerCore"]}')
MEM=$(free -m | awk '/^Mem:/ {print int($2 * 0.9)}')   # a margin, or slurmd drains the node

cat > /etc/slurm/slurm.conf <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups here: track processes by PID and bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a per-CPU default every job takes the node's whole memory and jobs run one at a time.
DefMemPerCPU=1000
SchedulerType=sched/backfill
ReturnToService=2
MailProg=/bin/true
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.txt
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
StateSaveLocation=$BASE/ctld
SlurmdSpoolDir=$BASE/spool
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
MinJobAge=300
InactiveLimit=0
KillWait=30
Waittime=0
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
waitfor 10 munged sh -c 'munge -n | unmunge'
cp /run/munge/munged.pid "$RUN/munged.pid"
say "munged $(cat "$RUN/munged.pid")"

[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
nohup /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --port=3306 \
  --socket=/run/mysqld/mysqld.sock --pid-file="$BASE/mysql/mariadbd.pid" \
  --log-error="$BASE/mysql/error.log" >"$BASE/mysql/stdout.log" 2>&1 &
echo $! > "$RUN/mariadbd.pid"
waitfor 60 mariadb mysqladmin --socket=/run/mysqld/mysqld.sock ping
mysql -e "DROP DATABASE IF EXISTS slurm_acct_db; CREATE DATABASE slurm_acct_db;
          CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
          GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
say "mariadb $(cat "$RUN/mariadbd.pid")"

cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=3306
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
EOF
chown slurm:slurm /etc/slurm/slurmdbd.conf && chmod 600 /etc/slurm/slurmdbd.conf
/usr/sbin/slurmdbd
waitfor 60 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null || true
sacctmgr -i add account "$ACCOUNT" Description=xtalgen Organization=xtalgen >/dev/null || true
sacctmgr -i add user root Account="$ACCOUNT" >/dev/null || true
say "slurmdbd $(cat "$RUN/slurmdbd.pid")"

/usr/sbin/slurmctld
waitfor 30 slurmctld scontrol ping
/usr/sbin/slurmd
waitfor 30 "node $HOST idle" sh -c "sinfo -h -n $HOST -o %T | grep -qx idle"
say "slurmctld $(cat "$RUN/slurmctld.pid"), slurmd $(cat "$RUN/slurmd.pid"): partition $PARTITION, $CPUS CPUs, ${MEM} MB"
