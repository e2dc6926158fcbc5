/* pool.h: a small pthread pool that runs the parts of one layer.
 *
 * pd_pool_run(pool, n, fn, ctx) calls fn(ctx, task, worker) once for every
 * task < n, on the calling thread (worker 0) and the pool's threads (workers
 * 1 .. threads-1), and returns when all are done.  Tasks are handed out by an
 * atomic counter, so a slow thread takes fewer.  Between jobs the workers spin
 * briefly (a layer follows a layer within microseconds), then sleep on a
 * condition variable: an idle net costs no CPU.  Not reentrant: one job at a
 * time, from the thread that runs the net. */
#ifndef PD_POOL_H
#define PD_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct pd_pool pd_pool;
typedef void (*pd_task_fn)(void *ctx, size_t task, int32_t worker);

/* A pool of threads - 1 workers (threads >= 2), or NULL if out of memory or
 * threads cannot be created. */
pd_pool *pd_pool_create(int32_t threads);

/* Stops and joins the workers and frees the pool; NULL is fine. */
void pd_pool_free(pd_pool *pool);

/* Runs the tasks; a NULL pool runs them all on the caller. */
void pd_pool_run(pd_pool *pool, size_t n_tasks, pd_task_fn fn, void *ctx);

/* How a layer is cut into parts for pd_pool_run: about 4 per thread, so a
 * thread the OS delays leaves little for the others to wait on. */

/* An m x n GEMM cut into row_tiles x col_tiles tasks, cutting first the
 * longer side (a column cut re-reads A, m x k; a row cut re-reads B, n x k);
 * one task of the whole GEMM with 1 thread.  Rows go in units of row_unit
 * and columns in units of col_unit (whole panels), dealt as evenly as they
 * divide: two tiles differ by at most one unit, so the threads' shares
 * differ by little (tiles rounded up to a fixed size left the last one a
 * sliver: 5 + 5 + 5 + 1 panels against 5 + 5 + 5 + 5). */
typedef struct pd_gemm_tiles {
    size_t row_tiles, col_tiles;
    size_t row_units, col_units, row_unit, col_unit;
} pd_gemm_tiles;
pd_gemm_tiles pd_plan_gemm_tiles(int32_t threads, size_t m, size_t n, size_t row_unit,
                                 size_t col_unit);

/* Task t's rows [*i0, *i1) and columns [*c0, *c1) of an m x n GEMM. */
void pd_gemm_tile(const pd_gemm_tiles *t, size_t m, size_t n, size_t task, size_t *i0, size_t *i1,
                  size_t *c0, size_t *c1);

/* Rows per part when `samples` samples of `rows` output rows each are cut
 * into parts of whole rows (one part per sample with 1 thread); each sample
 * then has (rows + part - 1) / part parts. */
size_t pd_plan_row_part(int32_t threads, size_t rows, size_t samples);

/* Rows per part of an elementwise layer cut by rows (rows of row_elems
 * elements): pd_plan_row_part's, raised so that a part holds at least
 * least_elems elements, since a small tensor is cheaper as one task than
 * handed off; 0 when it should not be cut (one thread, or too small for two
 * such parts). */
size_t pd_plan_elementwise_part(int32_t threads, size_t rows, size_t row_elems, size_t least_elems);

#endif
