/* pool.c: the thread pool of pool.h.
 *
 * A job is published under the mutex with a new generation number; workers
 * notice the generation change (spinning for a short while, then waiting on
 * `wake`), take tasks from the atomic `next`, and the last one to finish
 * signals `done`.  The caller takes tasks too, then waits for the workers. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pool.h"

/* Polls of the generation before a worker sleeps, and of the pending count
 * before the caller sleeps: tens of microseconds, less than a layer. */
#define SPIN 20000

struct pd_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    int32_t n_workers;
    pthread_t *threads;

    /* the current job, written by the caller under lock before the generation */
    pd_task_fn fn;
    void *ctx;
    size_t n_tasks;
    atomic_size_t next;
    atomic_int pending;     /* workers that have not finished the job */
    atomic_uint generation;
    int stop;
};

typedef struct worker_arg {
    pd_pool *pool;
    int32_t index;
} worker_arg;

static void take_tasks(pd_pool *pool, int32_t worker)
{
    for (;;) {
        size_t t = atomic_fetch_add(&pool->next, 1);
        if (t >= pool->n_tasks)
            break;
        pool->fn(pool->ctx, t, worker);
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
        for (int i = 0; i < SPIN && gen == seen; i++)
            gen = atomic_load(&pool->generation);
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
        take_tasks(pool, index);
        if (atomic_fetch_sub(&pool->pending, 1) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
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
    atomic_init(&pool->next, 0);
    atomic_init(&pool->pending, 0);
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
    if (pool == NULL || n_tasks <= 1) {
        for (size_t t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n_tasks = n_tasks;
    atomic_store(&pool->next, 0);
    atomic_store(&pool->pending, pool->n_workers);
    atomic_fetch_add(&pool->generation, 1); /* publishes the job (seq_cst) */
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);

    take_tasks(pool, 0);
    for (int i = 0; i < SPIN && atomic_load(&pool->pending) > 0; i++)
        ;
    if (atomic_load(&pool->pending) > 0) {
        pthread_mutex_lock(&pool->lock);
        while (atomic_load(&pool->pending) > 0)
            pthread_cond_wait(&pool->done, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
}
