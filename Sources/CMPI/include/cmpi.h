#ifndef BIGBATCH_CMPI_H
#define BIGBATCH_CMPI_H

// Plain C entry points over OpenMPI for Swift.
//
// OpenMPI spells its handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE) as casts of
// addresses of global objects, which Swift's importer cannot see. Every function here works on
// MPI_COMM_WORLD, returns an MPI error code (MPI_SUCCESS == 0), and never aborts by itself:
// the communicator is switched to MPI_ERRORS_RETURN at initialization.

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Element types understood by the collectives.
typedef enum { CMPI_FLOAT = 0, CMPI_DOUBLE = 1, CMPI_INT64 = 2, CMPI_BYTE = 3 } cmpi_datatype;

/// Reductions understood by the collectives.
typedef enum { CMPI_SUM = 0, CMPI_MAX = 1, CMPI_MIN = 2 } cmpi_op;

/// An opaque in-flight non-blocking operation.
typedef struct cmpi_request_s *cmpi_request;

int cmpi_init(void);
/// Whether the library lets any thread call MPI, one at a time (MPI_THREAD_SERIALIZED or more).
int cmpi_serialized_threads(void);
/// The collective watchdog's roll call (see CollectiveWatchdog). `open` (a collective, on the main
/// thread before the watchdog runs) returns 0 where the library is not MPI_THREAD_MULTIPLE; `heard`
/// tells whether some other rank has called the roll; `call` announces this rank to all (whether its
/// own collective `overran`) and waits up to `seconds` for every other rank's word: answered[r]
/// (size entries) is 0 for a rank not heard from, 1 for one that answered, 2 for one whose collective
/// overran. After `open`, only one thread may use these, and only until `cmpi_finalize`.
int cmpi_roll_call_open(void);
int cmpi_roll_call_heard(void);
int cmpi_roll_call(double seconds, int overran, int *answered);
int cmpi_is_initialized(void);
int cmpi_finalize(void);
int cmpi_is_finalized(void);
/// Ends every process of the job with `code`.
void cmpi_abort(int code);

int cmpi_rank(int *rank);
int cmpi_size(int *size);
/// Writes the host name (NUL-terminated) into `name`, which holds at least `capacity` bytes.
int cmpi_processor_name(char *name, int capacity);
/// Writes the MPI library's version string (NUL-terminated).
int cmpi_library_version(char *version, int capacity);
/// Writes the text for an MPI error code (NUL-terminated).
void cmpi_error_string(int code, char *text, int capacity);
double cmpi_wtime(void);

int cmpi_barrier(void);
int cmpi_broadcast(void *buffer, int64_t count, cmpi_datatype type, int root);
/// In-place allreduce of `count` elements.
int cmpi_allreduce(void *buffer, int64_t count, cmpi_datatype type, cmpi_op op);
/// In-place SUM of bfloat16 words: each pair added in float32, each partial sum rounded to bfloat16.
int cmpi_allreduce_bf16_sum(uint16_t *buffer, int64_t count);
/// Non-blocking in-place allreduce; `*request` must later be completed by cmpi_wait or cmpi_test.
int cmpi_iallreduce(void *buffer, int64_t count, cmpi_datatype type, cmpi_op op, cmpi_request *request);
/// Completes `*request` and releases it (sets it to NULL).
int cmpi_wait(cmpi_request *request);
/// Sets `*done` to 1 and releases the request once complete, else 0.
int cmpi_test(cmpi_request *request, int *done);
/// Each rank sends `recv_count * size` floats and receives the sum of its `recv_count` block.
int cmpi_reduce_scatter_float(const float *send, float *recv, int64_t recv_count, cmpi_op op);
/// Each rank contributes `send_count` floats; `recv` receives `send_count * size` floats in rank order.
int cmpi_allgather_float(const float *send, float *recv, int64_t send_count);

/// In place, with per-rank block lengths (`counts`, `size` of them, the blocks laid out in rank
/// order): `buffer` holds this rank's whole input; on return this rank's own block, at its offset,
/// holds the reduction of that block over all ranks (MPI_Reduce_scatter). The rest is left undefined.
int cmpi_reduce_scatter_v(void *buffer, const int64_t *counts, cmpi_datatype type, cmpi_op op);

/// In place: every rank's block of `buffer` (lengths `counts`, in rank order) is copied to every
/// rank (MPI_Allgatherv).
int cmpi_allgather_v(void *buffer, const int64_t *counts, cmpi_datatype type);

/// Rank `root` receives every rank's `send` (lengths `counts`) in rank order into `recv`
/// (MPI_Gatherv); `recv` is read only on `root`.
int cmpi_gather_v(const void *send, void *recv, const int64_t *counts, cmpi_datatype type, int root);

#ifdef __cplusplus
}
#endif
#endif
