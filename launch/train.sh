#!/usr/bin/env bash
# Trains with mpirun: one rank per core (all local cores by default), the default config unless one is given.
# Usage: launch/train.sh [-n RANKS] [--hostfile FILE] [--max-restarts N] [CONFIG | --config CONFIG] [--set key=value ...]
#        [other bigbatch train options]
# --max-restarts N (torchrun's convention): when the job fails (a rank killed, a host lost, the collective watchdog),
# relaunch it from the run's latest checkpoint, at most N times; each restart is a resume in resumes.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

ranks=""
hostfile=""
max_restarts=0
run_dir=""
config="configs/fashion-mlp.yaml"
passthrough=()
while (($#)); do
    case "$1" in
        -n|--ranks) ranks="$2"; shift 2 ;;
        --hostfile) hostfile="$2"; shift 2 ;;
        --max-restarts) max_restarts="$2"; shift 2 ;;
        --run-dir|--resume) [[ $1 == --resume && -n $run_dir ]] || run_dir="$2"; passthrough+=("$1" "$2"); shift 2 ;;
        --run-dir=*) run_dir="${1#--run-dir=}"; passthrough+=("$1"); shift ;;
        --set) passthrough+=("$1" "$2"); shift 2 ;;  # a value may end in .yaml without being the config
        --config) config="$2"; shift 2 ;;
        --config=*) config="${1#--config=}"; shift ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *.yaml|*.yml) config="$1"; shift ;;
        *) passthrough+=("$1"); shift ;;
    esac
done

# BIGBATCH_BINARY: an existing build to run instead of building the release binary (the tests use theirs).
if [[ -n "${BIGBATCH_BINARY:-}" ]]; then
    [[ -x $BIGBATCH_BINARY ]] || { echo "train.sh: BIGBATCH_BINARY=$BIGBATCH_BINARY is not an executable" >&2; exit 2; }
    binary=$BIGBATCH_BINARY
else
    binary=$(launch/setup.sh | tail -n 1)
fi
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
[[ $max_restarts =~ ^[0-9]+$ ]] || { echo "train.sh: --max-restarts '$max_restarts' is not a number of restarts" >&2; exit 2; }
# The run directory the job writes (bigbatch's default: the --resume directory, else runs/<config name>).
[[ -n $run_dir ]] || run_dir="runs/$(basename "${config%.*}")"
[[ -f $run_dir ]] && run_dir=$(dirname "$run_dir")  # --resume FILE: the checkpoint's directory

restarts=0
arguments=("${passthrough[@]}")
while true; do
    mpirun "${mpi_args[@]}" "$binary" train --config "$config" "${arguments[@]}" &
    job=$!
    trap 'kill -USR1 "$job" 2>/dev/null' INT TERM
    while true; do
        status=0
        wait "$job" || status=$?
        # wait returns early (status > 128) when a trapped signal arrives; keep waiting for the job itself.
        kill -0 "$job" 2>/dev/null || break
    done
    # 0: done; 75: stopped after a signal, as asked. Anything else is a failure that a restart may get past.
    if ((status == 0 || status == 75 || restarts >= max_restarts)); then exit "$status"; fi
    if ! compgen -G "$run_dir/checkpoint-*.safetensors" >/dev/null; then
        echo "train.sh: the job failed (status $status) before its first checkpoint in $run_dir; not restarting" >&2
        exit "$status"
    fi
    restarts=$((restarts + 1))
    echo "train.sh: the job failed (status $status); restart $restarts of $max_restarts from the latest checkpoint in $run_dir" >&2
    # Continue the run where it stopped: --resume the directory (its latest checkpoint), and never --overwrite it.
    arguments=()
    skip=0
    for argument in "${passthrough[@]}"; do
        if ((skip)); then skip=0; continue; fi
        case $argument in
            --overwrite) ;;
            --resume) skip=1 ;;
            *) arguments+=("$argument") ;;
        esac
    done
    arguments+=(--resume "$run_dir")
done
