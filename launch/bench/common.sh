# Sourced by the benchmark scripts (bash): what several of them need, written once.
#
#   median_rate RUN-DIR        median samples/s of a run's steps, the first 10 (warm-up) left out
#   bench_hosts RATE OUT       two test hosts named "bench" joined by a RATE link (launch/cluster.sh, root);
#                              they come down, and OUT is removed, when the script exits. Sets bench_mpirun to the
#                              launcher that runs 2 ranks on them, one BLAS thread each.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

median_rate() {
    python3 -c "
import json, statistics, sys
s = [json.loads(l) for l in open(sys.argv[1])]
s = [r for r in s if r.get('type') == 'step'][10:]
print(statistics.median(r['samples_per_s'] for r in s))" "$1/metrics.jsonl"
}

bench_hosts() {
    launch/cluster.sh up 2 --rate "$1" --name bench >&2
    # shellcheck disable=SC2064  # OUT is fixed now, not when the trap runs
    trap "launch/cluster.sh down --name bench; rm -rf '$2'" EXIT
    bench_mpirun=(launch/cluster.sh run --name bench mpirun --hostfile /run/bigbatch-cluster/bench/hostfile -np 2
                  -x OPENBLAS_NUM_THREADS=1)
}
