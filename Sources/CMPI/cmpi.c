#include "cmpi.h"
#include "ckernels.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mpi.h>

struct cmpi_request_s { MPI_Request request; };

static MPI_Datatype datatype(cmpi_datatype type) {
    switch (type) {
    case CMPI_FLOAT: return MPI_FLOAT;
    case CMPI_DOUBLE: return MPI_DOUBLE;
    case CMPI_INT64: return MPI_INT64_T;
    default: return MPI_BYTE;
    }
}

static MPI_Op operation(cmpi_op op) {
    switch (op) {
    case CMPI_MAX: return MPI_MAX;
    case CMPI_MIN: return MPI_MIN;
    default: return MPI_SUM;
    }
}

// MPI counts are `int`; larger buffers are an error here rather than a silent truncation.
static int checked_count(int64_t count, int *out) {
    if (count < 0 || count > INT_MAX) return MPI_ERR_COUNT;
    *out = (int)count;
    return MPI_SUCCESS;
}

// The watchdog's roll call: a duplicate of MPI_COMM_WORLD with a receive posted from every other
// rank, so that a rank whose collective overran can learn which ranks still answer while its main
// thread is blocked inside that collective (MPI_THREAD_MULTIPLE). Used by one thread only.
static MPI_Comm roll_comm = MPI_COMM_NULL;
static int roll_rank = 0, roll_size = 0, roll_sent = 0;
static MPI_Request *roll_receives = NULL, *roll_sends = NULL;
static int *roll_from = NULL, *roll_heard = NULL;
static int roll_token = 0;

static void roll_call_close(void) {
    if (roll_comm == MPI_COMM_NULL) return;
    for (int r = 0; r < roll_size; r++) {
        if (roll_receives[r] != MPI_REQUEST_NULL) {
            MPI_Cancel(&roll_receives[r]);
            MPI_Request_free(&roll_receives[r]);
        }
    }
    MPI_Comm_free(&roll_comm);
    free(roll_receives); free(roll_sends); free(roll_from); free(roll_heard);
    roll_receives = roll_sends = NULL; roll_from = roll_heard = NULL;
}

int cmpi_roll_call_open(void) {
    int provided = MPI_THREAD_SINGLE;
    if (roll_comm != MPI_COMM_NULL) return 1;
    if (MPI_Query_thread(&provided) != MPI_SUCCESS || provided < MPI_THREAD_MULTIPLE) return 0;
    if (MPI_Comm_dup(MPI_COMM_WORLD, &roll_comm) != MPI_SUCCESS) return 0;
    MPI_Comm_set_errhandler(roll_comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(roll_comm, &roll_rank);
    MPI_Comm_size(roll_comm, &roll_size);
    roll_receives = malloc(sizeof(MPI_Request) * (size_t)roll_size);
    roll_sends = malloc(sizeof(MPI_Request) * (size_t)roll_size);
    roll_from = calloc((size_t)roll_size, sizeof(int));
    roll_heard = calloc((size_t)roll_size, sizeof(int));
    if (!roll_receives || !roll_sends || !roll_from || !roll_heard) { roll_call_close(); return 0; }
    for (int r = 0; r < roll_size; r++) {
        roll_receives[r] = roll_sends[r] = MPI_REQUEST_NULL;
        if (r != roll_rank) MPI_Irecv(&roll_from[r], 1, MPI_INT, r, 77, roll_comm, &roll_receives[r]);
    }
    roll_heard[roll_rank] = 1;
    return 1;
}

/// Marks the ranks heard from so far; returns how many other ranks have called or answered.
static int roll_call_poll(void) {
    int heard = 0;
    for (int r = 0; r < roll_size; r++) {
        if (r == roll_rank) continue;
        if (!roll_heard[r] && roll_receives[r] != MPI_REQUEST_NULL) {
            int done = 0;
            if (MPI_Test(&roll_receives[r], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done) roll_heard[r] = 1;
        }
        heard += roll_heard[r];
    }
    return heard;
}

int cmpi_roll_call_heard(void) {
    if (roll_comm == MPI_COMM_NULL) return 0;
    return roll_call_poll() > 0;
}

int cmpi_roll_call(double seconds, int overran, int *answered) {
    if (roll_comm == MPI_COMM_NULL) return 0;
    if (!roll_sent) {
        roll_token = overran ? 2 : 1;
        for (int r = 0; r < roll_size; r++) {
            if (r != roll_rank) MPI_Isend(&roll_token, 1, MPI_INT, r, 77, roll_comm, &roll_sends[r]);
        }
        roll_sent = 1;
    }
    double deadline = MPI_Wtime() + seconds;
    while (roll_call_poll() < roll_size - 1 && MPI_Wtime() < deadline) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    for (int r = 0; r < roll_size; r++) answered[r] = r == roll_rank ? roll_token : (roll_heard[r] ? roll_from[r] : 0);
    return 1;
}

int cmpi_init(void) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int provided = 0;
        // MULTIPLE: the main thread, or the gradient reduction's communication thread while the main
        // thread computes backward (distributed.overlap), calls the collectives, one at a time; the
        // collective watchdog's roll call runs beside them on a communicator of its own.
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

int cmpi_serialized_threads(void) {
    int provided = MPI_THREAD_SINGLE;
    if (MPI_Query_thread(&provided) != MPI_SUCCESS) return 0;
    return provided >= MPI_THREAD_SERIALIZED;
}

int cmpi_is_initialized(void) { int flag = 0; MPI_Initialized(&flag); return flag; }
int cmpi_finalize(void) {
    roll_call_close();
    return MPI_Finalize();
}
int cmpi_is_finalized(void) { int flag = 0; MPI_Finalized(&flag); return flag; }
void cmpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int cmpi_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }
int cmpi_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }

int cmpi_processor_name(char *name, int capacity) {
    char buffer[MPI_MAX_PROCESSOR_NAME];
    int length = 0;
    int rc = MPI_Get_processor_name(buffer, &length);
    if (rc != MPI_SUCCESS || capacity <= 0) return rc;
    strncpy(name, buffer, (size_t)capacity - 1);
    name[capacity - 1] = '\0';
    return MPI_SUCCESS;
}

int cmpi_library_version(char *version, int capacity) {
    char buffer[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    int rc = MPI_Get_library_version(buffer, &length);
    if (rc != MPI_SUCCESS || capacity <= 0) return rc;
    strncpy(version, buffer, (size_t)capacity - 1);
    version[capacity - 1] = '\0';
    return MPI_SUCCESS;
}

void cmpi_error_string(int code, char *text, int capacity) {
    char buffer[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (capacity <= 0) return;
    if (MPI_Error_string(code, buffer, &length) != MPI_SUCCESS) {
        strncpy(text, "unknown MPI error", (size_t)capacity - 1);
    } else {
        strncpy(text, buffer, (size_t)capacity - 1);
    }
    text[capacity - 1] = '\0';
}

double cmpi_wtime(void) { return MPI_Wtime(); }

int cmpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

int cmpi_broadcast(void *buffer, int64_t count, cmpi_datatype type, int root) {
    int n; int rc = checked_count(count, &n); if (rc != MPI_SUCCESS) return rc;
    return MPI_Bcast(buffer, n, datatype(type), root, MPI_COMM_WORLD);
}

int cmpi_allreduce(void *buffer, int64_t count, cmpi_datatype type, cmpi_op op) {
    int n; int rc = checked_count(count, &n); if (rc != MPI_SUCCESS) return rc;
    return MPI_Allreduce(MPI_IN_PLACE, buffer, n, datatype(type), operation(op), MPI_COMM_WORLD);
}

/* bfloat16 sums. MPI has no bfloat16 type, so 16-bit words are reduced by a user operation that adds each
   pair in float32 and rounds the partial sum back to bfloat16 (CKernels' rounding, as the conversions use). */
static void bf16_sum(void *in, void *inout, int *length, MPI_Datatype *type) {
    (void)type;
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *length; i++) b[i] = bb_bf16_round(bb_bf16_value(a[i]) + bb_bf16_value(b[i]));
}

static MPI_Op bf16_sum_op = MPI_OP_NULL;

int cmpi_allreduce_bf16_sum(uint16_t *buffer, int64_t count) {
    int n; int rc = checked_count(count, &n); if (rc != MPI_SUCCESS) return rc;
    if (bf16_sum_op == MPI_OP_NULL) {
        rc = MPI_Op_create(bf16_sum, 1, &bf16_sum_op);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_Allreduce(MPI_IN_PLACE, buffer, n, MPI_UINT16_T, bf16_sum_op, MPI_COMM_WORLD);
}

int cmpi_iallreduce(void *buffer, int64_t count, cmpi_datatype type, cmpi_op op, cmpi_request *request) {
    int n; int rc = checked_count(count, &n); if (rc != MPI_SUCCESS) return rc;
    struct cmpi_request_s *r = malloc(sizeof *r);
    if (r == NULL) return MPI_ERR_NO_MEM;
    rc = MPI_Iallreduce(MPI_IN_PLACE, buffer, n, datatype(type), operation(op), MPI_COMM_WORLD, &r->request);
    if (rc != MPI_SUCCESS) { free(r); return rc; }
    *request = r;
    return MPI_SUCCESS;
}

int cmpi_wait(cmpi_request *request) {
    if (request == NULL || *request == NULL) return MPI_ERR_REQUEST;
    int rc = MPI_Wait(&(*request)->request, MPI_STATUS_IGNORE);
    free(*request);
    *request = NULL;
    return rc;
}

int cmpi_test(cmpi_request *request, int *done) {
    if (request == NULL || *request == NULL) return MPI_ERR_REQUEST;
    int flag = 0;
    int rc = MPI_Test(&(*request)->request, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return rc;
    *done = flag;
    if (flag) { free(*request); *request = NULL; }
    return MPI_SUCCESS;
}

int cmpi_reduce_scatter_float(const float *send, float *recv, int64_t recv_count, cmpi_op op) {
    int n; int rc = checked_count(recv_count, &n); if (rc != MPI_SUCCESS) return rc;
    return MPI_Reduce_scatter_block(send, recv, n, MPI_FLOAT, operation(op), MPI_COMM_WORLD);
}

int cmpi_allgather_float(const float *send, float *recv, int64_t send_count) {
    int n; int rc = checked_count(send_count, &n); if (rc != MPI_SUCCESS) return rc;
    return MPI_Allgather(send, n, MPI_FLOAT, recv, n, MPI_FLOAT, MPI_COMM_WORLD);
}

/// Converts per-rank lengths to MPI's int counts and displacements; fails with MPI_ERR_COUNT when
/// any of them or their total does not fit an int. The arrays are malloc'ed; free both.
static int counts_and_displacements(const int64_t *counts, int **out_counts, int **out_displacements, int *out_size) {
    int size; int rc = MPI_Comm_size(MPI_COMM_WORLD, &size); if (rc != MPI_SUCCESS) return rc;
    int *n = malloc(sizeof(int) * (size_t)size), *d = malloc(sizeof(int) * (size_t)size);
    if (!n || !d) { free(n); free(d); return MPI_ERR_NO_MEM; }
    int64_t offset = 0;
    for (int r = 0; r < size; r++) {
        if (counts[r] < 0 || counts[r] > INT_MAX || offset > INT_MAX) { free(n); free(d); return MPI_ERR_COUNT; }
        n[r] = (int)counts[r];
        d[r] = (int)offset;
        offset += counts[r];
    }
    if (offset > INT_MAX) { free(n); free(d); return MPI_ERR_COUNT; }
    *out_counts = n; *out_displacements = d; *out_size = size;
    return MPI_SUCCESS;
}

static size_t element_size(cmpi_datatype type) {
    switch (type) {
    case CMPI_FLOAT: return sizeof(float);
    case CMPI_DOUBLE: return sizeof(double);
    case CMPI_INT64: return sizeof(int64_t);
    case CMPI_BYTE: return 1;
    }
    return 1;
}

int cmpi_reduce_scatter_v(void *buffer, const int64_t *counts, cmpi_datatype type, cmpi_op op) {
    int *n, *d, size, rank;
    int rc = counts_and_displacements(counts, &n, &d, &size); if (rc != MPI_SUCCESS) return rc;
    rc = MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    // MPI_IN_PLACE leaves this rank's result at the start of the buffer: move it to its block.
    if (rc == MPI_SUCCESS) rc = MPI_Reduce_scatter(MPI_IN_PLACE, buffer, n, datatype(type), operation(op), MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS && d[rank] > 0 && n[rank] > 0) {
        size_t width = element_size(type);
        memmove((char *)buffer + (size_t)d[rank] * width, buffer, (size_t)n[rank] * width);
    }
    free(n); free(d);
    return rc;
}

int cmpi_allgather_v(void *buffer, const int64_t *counts, cmpi_datatype type) {
    int *n, *d, size;
    int rc = counts_and_displacements(counts, &n, &d, &size); if (rc != MPI_SUCCESS) return rc;
    rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, n, d, datatype(type), MPI_COMM_WORLD);
    free(n); free(d);
    return rc;
}

int cmpi_gather_v(const void *send, void *recv, const int64_t *counts, cmpi_datatype type, int root) {
    int *n, *d, size, rank;
    int rc = counts_and_displacements(counts, &n, &d, &size); if (rc != MPI_SUCCESS) return rc;
    rc = MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Gatherv(send, n[rank], datatype(type), recv, n, d, datatype(type), root, MPI_COMM_WORLD);
    free(n); free(d);
    return rc;
}
