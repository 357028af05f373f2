#!/usr/bin/env bash
# Trains with mpirun: one rank per core (all local cores by default), the default config unless one is given.
# Usage: launch/train.sh [-n RANKS] [--hostfile FILE] [CONFIG | --config CONFIG] [--set key=value ...] [other bigbatch train options]
set -euo pipefail
cd "$(dirname "$0")/.."

ranks=""
hostfile=""
config="configs/fashion-mlp.yaml"
passthrough=()
while (($#)); do
    case "$1" in
        -n|--ranks) ranks="$2"; shift 2 ;;
        --hostfile) hostfile="$2"; shift 2 ;;
        --config) config="$2"; shift 2 ;;
        --config=*) config="${1#--config=}"; shift ;;
        -h|--help) sed -n '2,3p' "$0"; exit 0 ;;
        *.yaml|*.yml) config="$1"; shift ;;
        *) passthrough+=("$1"); shift ;;
    esac
done

binary=$(launch/setup.sh | tail -n 1)
cores=$(nproc)
[[ -n "$ranks" ]] || ranks=$cores

mpi_args=(-np "$ranks")
[[ $(id -u) -eq 0 ]] && mpi_args+=(--allow-run-as-root)
if [[ -n "$hostfile" ]]; then
    mpi_args+=(--hostfile "$hostfile" --map-by core)
    # A binding policy from the environment wins (launch/cluster.sh's test hosts share one machine's cores).
    [[ -n "${OMPI_MCA_hwloc_base_binding_policy:-}" ]] || mpi_args+=(--bind-to core)
    # TCP keepalive on mpirun's own connections to its daemons: a host whose link went down is noticed in
    # about 25 s (the default waits for TCP's retransmissions, many minutes), and the job ends everywhere.
    [[ -n "${OMPI_MCA_oob_tcp_keepalive_time:-}" ]] || mpi_args+=(--mca oob_tcp_keepalive_time 10
        --mca oob_tcp_keepalive_intvl 5 --mca oob_tcp_keepalive_probes 3)
elif ((ranks > cores)); then
    mpi_args+=(--oversubscribe --bind-to none)
else
    mpi_args+=(--map-by core --bind-to core)
fi
# Ranks that fill the cores each get one BLAS thread; fewer ranks share the cores between them.
if [[ -z "${OPENBLAS_NUM_THREADS:-}" ]]; then
    if [[ -n "$hostfile" ]] || ((ranks >= cores)); then
        export OPENBLAS_NUM_THREADS=1
    else
        export OPENBLAS_NUM_THREADS=$((cores / ranks))
        mpi_args=("${mpi_args[@]/--bind-to core/--bind-to none}")
    fi
fi
# Forward the environment that matters to remote ranks.
for variable in OPENBLAS_NUM_THREADS OPENBLAS_CORETYPE PATH LD_LIBRARY_PATH; do
    [[ -n "${!variable:-}" ]] && mpi_args+=(-x "$variable")
done

# mpirun ends the job on SIGINT/SIGTERM within a second; it forwards SIGUSR1 instead. So the job is
# asked to stop as SIGUSR1: with --checkpoint-on-signal every rank finishes its step, rank 0 writes a
# checkpoint, and all exit cleanly.
mpirun "${mpi_args[@]}" "$binary" train --config "$config" "${passthrough[@]}" &
job=$!
trap 'kill -USR1 "$job" 2>/dev/null' INT TERM
while true; do
    status=0
    wait "$job" || status=$?
    # wait returns early (status > 128) when a trapped signal arrives; keep waiting for the job itself.
    kill -0 "$job" 2>/dev/null || exit "$status"
done
