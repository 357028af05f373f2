#!/usr/bin/env bash
# Test hosts on one machine: N network namespaces joined by a bridge, OpenMPI over TCP between them, and a
# launch agent that runs mpirun's remote commands inside a host's namespace (no ssh). Needs root and iproute2.
#
#   launch/cluster.sh up N [--rate 1gbit] [--name bb]   create hosts NAME-h0 … NAME-h(N-1), 10.77.0.1 … 10.77.0.N
#   launch/cluster.sh run [--name bb] COMMAND…           run COMMAND on host 0 with the cluster's MPI settings, e.g.
#       launch/cluster.sh run launch/train.sh --hostfile /run/bigbatch-cluster/bb/hostfile -n 2
#   launch/cluster.sh link HOST down|up [--name bb]      take a host's link down (the fault) or bring it back
#   launch/cluster.sh down [--name bb]                   remove the hosts, the bridge and the state directory
#
# Traffic goes only between the namespaces created here, on the addresses assigned here: the bridge lives in a
# namespace of its own, and no namespace has a route anywhere else. State (hostfile, agent, env) is under
# ${BIGBATCH_CLUSTER_DIR:-/run/bigbatch-cluster}/NAME; `env` there holds the OMPI_MCA_* settings `run` exports.
set -euo pipefail

die() { echo "cluster: $*" >&2; exit 1; }

command=${1:-}
[[ -n $command ]] || { sed -n '2,12p' "$0"; exit 2; }
shift
name=bb rate="" count="" host="" state=""
positional=()
while (($#)); do
    case "$1" in
        --name) name="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --) shift; positional+=("$@"); break ;;
        *) positional+=("$1"); shift; [[ $command == run ]] && { positional+=("$@"); break; } ;;
    esac
done
[[ $name =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "--name '$name': 1 to 8 lower-case letters and digits, starting with a letter"
root=${BIGBATCH_CLUSTER_DIR:-/run/bigbatch-cluster}
dir="$root/$name"
subnet=10.77.0
bridge="$name-br"

need_root() {
    [[ $(id -u) -eq 0 ]] || die "network namespaces need root (run as root, or under sudo)"
    command -v ip >/dev/null || die "ip not found: install iproute2"
}

hosts() { [[ -f $dir/hosts ]] || die "no cluster '$name' (launch/cluster.sh up N --name $name)"; cat "$dir/hosts"; }

case $command in
up)
    need_root
    count=${positional[0]:-}
    [[ $count =~ ^[0-9]+$ ]] && ((count >= 1 && count <= 32)) || die "up N: N must be 1…32, got '${count}'"
    [[ -e $dir ]] && die "cluster '$name' exists ($dir): launch/cluster.sh down --name $name first"
    ip netns list | grep -q "^$name-" && die "namespaces named $name-* exist: launch/cluster.sh down --name $name first"
    mkdir -p "$dir"
    trap 'status=$?; ((status == 0)) || "$0" down --name "$name" >/dev/null 2>&1 || true' EXIT
    ip netns add "$bridge"
    ip -n "$bridge" link set lo up
    ip -n "$bridge" link add br0 type bridge
    ip -n "$bridge" link set br0 up
    : >"$dir/hosts"
    for ((i = 0; i < count; i++)); do
        h="$name-h$i"
        ip netns add "$h"
        ip -n "$h" link set lo up
        ip link add "$name-t$i" netns "$h" type veth peer name "v$i" netns "$bridge"
        ip -n "$h" link set "$name-t$i" name eth0
        ip -n "$h" addr add "$subnet.$((i + 1))/24" dev eth0
        ip -n "$h" link set eth0 up
        ip -n "$bridge" link set "v$i" master br0
        ip -n "$bridge" link set "v$i" up
        if [[ -n $rate ]]; then
            ip netns exec "$h" tc qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 50ms \
                || die "tc tbf --rate '$rate' failed"
        fi
        echo "$h" >>"$dir/hosts"
        echo "$h slots=1" >>"$dir/hostfile"
    done
    cat >"$dir/agent" <<EOF
#!/bin/sh
# mpirun's plm_rsh_agent for cluster '$name': HOST COMMAND… runs COMMAND inside HOST's namespace.
host=\$1; shift
case \$host in $name-h*) ;; *) echo "cluster agent: \$host is not a host of cluster $name" >&2; exit 1 ;; esac
# Each host its own temporary directory, as separate machines have: OpenMPI keeps its session files (the
# PMIx store, the shared hwloc topology) there under the host name, which all test hosts share.
mkdir -p "$dir/tmp/\$host"
exec ip netns exec "\$host" env TMPDIR="$dir/tmp/\$host" /bin/sh -c "\$*"
EOF
    chmod +x "$dir/agent"
    cat >"$dir/env" <<EOF
export OMPI_MCA_plm_rsh_agent=$dir/agent
export OMPI_MCA_btl=tcp,self
export OMPI_MCA_btl_tcp_if_include=$subnet.0/24
export OMPI_MCA_oob_tcp_if_include=$subnet.0/24
export OMPI_MCA_hwloc_base_binding_policy=none
export OMPI_MCA_oob_tcp_keepalive_time=5 OMPI_MCA_oob_tcp_keepalive_intvl=2 OMPI_MCA_oob_tcp_keepalive_probes=3
EOF
    trap - EXIT
    echo "cluster $name: $count hosts ($subnet.1 … $subnet.$count${rate:+, $rate each}); hostfile $dir/hostfile"
    ;;
run)
    need_root
    ((${#positional[@]})) || die "run COMMAND…: give a command"
    first=$(hosts | head -n 1)
    # shellcheck disable=SC1091
    source "$dir/env"
    # mpirun's session files apart from those of host 0's daemon (see the agent).
    mkdir -p "$dir/tmp/launcher"
    TMPDIR="$dir/tmp/launcher" exec ip netns exec "$first" "${positional[@]}"
    ;;
link)
    need_root
    host=${positional[0]:-} state=${positional[1]:-}
    [[ $state == up || $state == down ]] || die "link HOST down|up: got '${state}'"
    index=$(hosts | grep -nx -- "$host" | cut -d: -f1) || die "no host '$host' in cluster '$name' ($(hosts | tr '\n' ' '))"
    ip -n "$bridge" link set "v$((index - 1))" "$state"
    ;;
down)
    need_root
    for ns in $(ip netns list | awk '{print $1}' | grep "^$name-h[0-9]*$\|^$bridge$" || true); do
        # Whatever still runs in a host (a job that hung) goes with it.
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -n $pids ]] && kill -9 $pids 2>/dev/null || true
        ip netns del "$ns"
    done
    rm -rf "$dir"
    ;;
*) die "unknown command '$command' (up, run, link, down)" ;;
esac
