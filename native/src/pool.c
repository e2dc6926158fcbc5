/* pool.c: the thread pool of pool.h.
 *
 * A job is published under the mutex: its function, context and task count,
 * then a new generation number.  Tasks are claimed through one 64-bit atomic
 * holding the job's generation, its task count and the next task: a claim is
 * a compare-and-swap that fails if the job changed, so a worker that wakes
 * late can never run a task of a job that has finished (and reads the count
 * from the same word, never from a job being published).  The caller claims tasks too, then waits
 * until every claimed task is done -- never for a worker that claimed
 * nothing, so a worker the OS has not scheduled (a busy machine) costs the
 * caller nothing: it simply does the work alone.
 *
 * Workers spin for a short while on the generation (a layer follows a layer
 * within microseconds), then sleep on `wake`; the caller spins on the done
 * count, then sleeps on `done`. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pool.h"

/* Polls before sleeping: YIELD_AFTER plain ones (a few microseconds), then
 * each one also yields the CPU, SPIN in all (some 100 microseconds with the
 * yields; a layer follows a layer within microseconds).  On a machine whose
 * other cores are busy a worker and the caller may share one, and a thread
 * that spins there without yielding holds the other off for a whole time
 * slice (a run at 2 threads then waited ~20 us at every layer). */
#define YIELD_AFTER 256
#define SPIN (YIELD_AFTER + 200)

/* The claim word: generation (24 bits) | task count (20) | next task (20).
 * A job of more tasks runs on the caller alone. */
#define TASK_BITS 20
#define MAX_TASKS ((1u << TASK_BITS) - 1u)
#define CLAIM(gen, n, next) \
    (((uint_fast64_t)((gen) & 0xffffffu) << (2 * TASK_BITS)) | ((uint_fast64_t)(n) << TASK_BITS) | (next))
#define CLAIM_GEN(v) ((uint32_t)((v) >> (2 * TASK_BITS)) & 0xffffffu)
#define CLAIM_N(v) ((uint32_t)((v) >> TASK_BITS) & MAX_TASKS)
#define CLAIM_NEXT(v) ((uint32_t)(v) & MAX_TASKS)

struct pd_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    int32_t n_workers;
    pthread_t *threads;

    /* the current job: written by the caller under lock before `generation` */
    pd_task_fn fn;
    void *ctx;
    atomic_uint_fast64_t claim;  /* CLAIM(generation, task count, next task) */
    atomic_uint finished;        /* tasks of the current job done */
    atomic_uint generation;
    int stop;
};

typedef struct worker_arg {
    pd_pool *pool;
    int32_t index;
} worker_arg;

/* Claims and runs tasks of job `gen` until none is left (or the job is no
 * longer current, which only a late worker can see). */
static void take_tasks(pd_pool *pool, uint32_t gen, int32_t worker)
{
    uint_fast64_t v = atomic_load(&pool->claim);
    for (;;) {
        if (CLAIM_GEN(v) != (gen & 0xffffffu) || CLAIM_NEXT(v) >= CLAIM_N(v))
            return;
        if (!atomic_compare_exchange_weak(&pool->claim, &v, v + 1))
            continue; /* v was reloaded */
        /* Task CLAIM_NEXT(v) of this job is ours and not done, so the job is
         * still current: fn and ctx are its own. */
        pool->fn(pool->ctx, (size_t)CLAIM_NEXT(v), worker);
        if (atomic_fetch_add(&pool->finished, 1) + 1 == CLAIM_N(v)) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
        v = atomic_load(&pool->claim);
    }
}

static void *worker_main(void *p)
{
    pd_pool *pool = ((worker_arg *)p)->pool;
    const int32_t index = ((worker_arg *)p)->index;
    free(p);
    unsigned seen = 0;
    for (;;) {
        unsigned gen = atomic_load(&pool->generation);
        for (int i = 0; i < SPIN && gen == seen; i++) {
            if (i >= YIELD_AFTER)
                sched_yield();
            gen = atomic_load(&pool->generation);
        }
        if (gen == seen) {
            pthread_mutex_lock(&pool->lock);
            while (!pool->stop && (gen = atomic_load(&pool->generation)) == seen)
                pthread_cond_wait(&pool->wake, &pool->lock);
            int stop = pool->stop;
            pthread_mutex_unlock(&pool->lock);
            if (stop)
                return NULL;
        }
        seen = gen;
        take_tasks(pool, gen, index);
    }
}

pd_pool *pd_pool_create(int32_t threads)
{
    if (threads < 2)
        return NULL;
    pd_pool *pool = calloc(1, sizeof(pd_pool));
    if (pool == NULL)
        return NULL;
    pool->threads = calloc((size_t)threads - 1, sizeof(pthread_t));
    if (pool->threads == NULL) {
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->claim, 0);
    atomic_init(&pool->finished, 0);
    atomic_init(&pool->generation, 0);
    for (int32_t i = 1; i < threads; i++) {
        worker_arg *arg = malloc(sizeof(worker_arg));
        if (arg != NULL) {
            arg->pool = pool;
            arg->index = i;
        }
        if (arg == NULL || pthread_create(&pool->threads[i - 1], NULL, worker_main, arg) != 0) {
            free(arg);
            pd_pool_free(pool);
            return NULL;
        }
        pool->n_workers++;
    }
    return pool;
}

void pd_pool_free(pd_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int32_t i = 0; i < pool->n_workers; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

void pd_pool_run(pd_pool *pool, size_t n_tasks, pd_task_fn fn, void *ctx)
{
    if (pool == NULL || n_tasks <= 1 || n_tasks > MAX_TASKS) {
        for (size_t t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store(&pool->finished, 0);
    const uint32_t gen = (uint32_t)atomic_load(&pool->generation) + 1;
    atomic_store(&pool->claim, CLAIM(gen, n_tasks, 0));
    atomic_store(&pool->generation, gen); /* publishes the job (seq_cst) */
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);

    take_tasks(pool, gen, 0);
    for (int i = 0; i < SPIN && atomic_load(&pool->finished) < (uint32_t)n_tasks; i++)
        if (i >= YIELD_AFTER)
            sched_yield();
    if (atomic_load(&pool->finished) < (uint32_t)n_tasks) {
        pthread_mutex_lock(&pool->lock);
        while (atomic_load(&pool->finished) < (uint32_t)n_tasks)
            pthread_cond_wait(&pool->done, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
}

/* Unit boundary b of `units` dealt into `tiles` parts, in elements (at most `size`). */
static size_t tile_edge(size_t b, size_t tiles, size_t units, size_t unit, size_t size)
{
    /* 64-bit: b * units passes 2^32 on a 32-bit size_t for a large batch */
    const uint64_t e = (uint64_t)b * units / tiles * unit;
    return e < size ? (size_t)e : size;
}

/* Tiles to cut `units` (at least want) into: of the multiples of threads up to
 * want, the one whose tiles, dealt in turn to the threads as they claim them,
 * give the busiest thread the fewest units (the most tiles on a tie).  Units
 * that the tiles do not divide leave some a unit longer, and dealt in turn
 * the long ones can pile up on one thread: 20 panels in 8 tiles are
 * 2 + 3 + 2 + 3 + ..., 8 for one thread and 12 for the other at 2 threads,
 * where 6 tiles deal 10 and 10 (MobileNetV2's 7x7 layers). */
static size_t balanced_tiles(size_t units, size_t threads, size_t want)
{
    size_t best = want, best_load = SIZE_MAX;
    for (size_t tiles = threads; tiles <= want; tiles += threads) {
        size_t busiest = 0;
        for (size_t th = 0; th < threads; th++) {
            size_t load = 0;
            for (size_t b = th; b < tiles; b += threads)
                load += tile_edge(b + 1, tiles, units, 1, units) - tile_edge(b, tiles, units, 1, units);
            if (load > busiest)
                busiest = load;
        }
        if (busiest <= best_load) {
            best = tiles;
            best_load = busiest;
        }
    }
    return best;
}

/* Tiles along the side cut first (units of it, into *tiles) and the other
 * (other_units, into *other_tiles): evenly dealt tiles of the first when it
 * has want units or more, else one tile a unit and the other side cut until
 * there are want tiles (or a tile a unit). */
static void cut(size_t units, size_t other_units, size_t threads, size_t want, size_t *tiles,
                size_t *other_tiles)
{
    if (units >= want) {
        *tiles = balanced_tiles(units, threads, want);
        return;
    }
    *tiles = units;
    *other_tiles = (want + units - 1) / units;
    if (*other_tiles > other_units)
        *other_tiles = other_units;
}

pd_gemm_tiles pd_plan_gemm_tiles(int32_t threads, size_t m, size_t n, size_t row_unit, size_t col_unit)
{
    pd_gemm_tiles t = {.row_tiles = 1, .col_tiles = 1, .row_unit = row_unit, .col_unit = col_unit};
    t.row_units = (m + row_unit - 1) / row_unit;
    t.col_units = (n + col_unit - 1) / col_unit;
    const size_t want = threads > 1 ? 4 * (size_t)threads : 1;
    if (want == 1 || m == 0 || n == 0)
        return t;
    if (m >= n) /* cut rows first: each column cut re-reads A (m x k) */
        cut(t.row_units, t.col_units, (size_t)threads, want, &t.row_tiles, &t.col_tiles);
    else /* fewer rows than columns (a 7x7 map): each row cut would re-read B, the larger */
        cut(t.col_units, t.row_units, (size_t)threads, want, &t.col_tiles, &t.row_tiles);
    return t;
}

void pd_gemm_tile(const pd_gemm_tiles *t, size_t m, size_t n, size_t task, size_t *i0, size_t *i1,
                  size_t *c0, size_t *c1)
{
    const size_t r = task / t->col_tiles, c = task % t->col_tiles;
    *i0 = tile_edge(r, t->row_tiles, t->row_units, t->row_unit, m);
    *i1 = tile_edge(r + 1, t->row_tiles, t->row_units, t->row_unit, m);
    *c0 = tile_edge(c, t->col_tiles, t->col_units, t->col_unit, n);
    *c1 = tile_edge(c + 1, t->col_tiles, t->col_units, t->col_unit, n);
}

size_t pd_plan_row_part(int32_t threads, size_t rows, size_t samples)
{
    if (samples == 0)
        samples = 1;
    size_t chunks = threads > 1 ? (4 * (size_t)threads + samples - 1) / samples : 1;
    if (chunks > rows)
        chunks = rows;
    if (chunks == 0)
        chunks = 1;
    return rows > 0 ? (rows + chunks - 1) / chunks : 1;
}

size_t pd_plan_elementwise_part(int32_t threads, size_t rows, size_t row_elems, size_t least_elems)
{
    if (threads < 2 || rows == 0 || row_elems == 0 || rows * row_elems < 2 * least_elems)
        return 0;
    const size_t part = pd_plan_row_part(threads, rows, 1);
    const size_t least = (least_elems + row_elems - 1) / row_elems;
    return part < least ? least : part;
}
