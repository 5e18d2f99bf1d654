/* pool.c: the persistent thread pool of the `cpu` backend.
 *
 * One job runs at a time. The caller that gets the pool shares its tasks with the workers; a
 * caller that finds the pool busy runs its own tasks serially, so many Python threads calling
 * at once never put more native threads on the machine than it has cores. Workers spin a
 * little after each job before sleeping: waking a sleeping thread costs tens of microseconds,
 * which is the whole run time of a mid-sized call.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "accel_cpu.h"
#include "internal.h"

#define MAX_THREADS 256
#define SPIN_ROUNDS 20000 /* about 50-100 us of polling before a worker sleeps */

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

static struct {
    pthread_mutex_t busy; /* held by the caller whose job the workers run */
    pthread_mutex_t lock; /* guards the job fields, started and sleepers */
    pthread_cond_t wake;
    pthread_cond_t done;
    int started; /* workers created so far */
    int sleepers;
    atomic_uint_fast64_t generation;
    /* the job: written under lock by the caller holding busy */
    accel_task_fn fn;
    void *ctx;
    int64_t ntasks;
    int participants; /* workers allowed to join this job */
    int open;         /* a worker may join only while the caller has not closed the job */
    atomic_int_fast64_t next;
    atomic_int_fast64_t finished;
    atomic_int running;
} pool = {
    .busy = PTHREAD_MUTEX_INITIALIZER,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

static atomic_int num_threads = 0; /* 0: not set yet, use the CPUs this process may run on */

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > MAX_THREADS ? MAX_THREADS : (int)n);
}

void accel_set_num_threads(int n)
{
    atomic_store(&num_threads, n < 1 ? 1 : (n > MAX_THREADS ? MAX_THREADS : n));
}

int accel_get_num_threads(void)
{
    int n = atomic_load(&num_threads);
    return n ? n : default_threads();
}

static void run_tasks(accel_task_fn fn, void *ctx, int64_t ntasks)
{
    for (;;) {
        int64_t i = atomic_fetch_add(&pool.next, 1);
        if (i >= ntasks)
            return;
        fn(ctx, i);
        atomic_fetch_add(&pool.finished, 1);
    }
}

static void *worker_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    /* From 0, not the current generation: a worker started for a job must not skip it. A
     * job that is over by the time it looks is closed, and it will pass it by. */
    uint64_t seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ROUNDS && atomic_load(&pool.generation) == seen; i++)
            CPU_RELAX();
        pthread_mutex_lock(&pool.lock);
        while (atomic_load(&pool.generation) == seen) {
            pool.sleepers++;
            pthread_cond_wait(&pool.wake, &pool.lock);
            pool.sleepers--;
        }
        seen = atomic_load(&pool.generation);
        /* A worker that wakes late may find the job already done and closed, its context
         * gone with the caller's stack: it must not touch it. */
        if (!pool.open || id >= pool.participants) {
            pthread_mutex_unlock(&pool.lock);
            continue;
        }
        accel_task_fn fn = pool.fn;
        void *ctx = pool.ctx;
        int64_t ntasks = pool.ntasks;
        atomic_fetch_add(&pool.running, 1);
        pthread_mutex_unlock(&pool.lock);

        run_tasks(fn, ctx, ntasks);

        pthread_mutex_lock(&pool.lock);
        if (atomic_fetch_sub(&pool.running, 1) == 1)
            pthread_cond_broadcast(&pool.done);
        pthread_mutex_unlock(&pool.lock);
    }
    return NULL;
}

/* Starts workers up to `want` (under pool.lock). Returns how many exist. */
static int ensure_workers(int want)
{
    while (pool.started < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)pool.started);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        pool.started++;
    }
    return pool.started;
}

void accel_parallel_for(accel_task_fn fn, void *ctx, int64_t ntasks)
{
    int threads = accel_get_num_threads();
    if (ntasks <= 1 || threads <= 1 || pthread_mutex_trylock(&pool.busy) != 0) {
        for (int64_t i = 0; i < ntasks; i++)
            fn(ctx, i);
        return;
    }
    int workers = threads - 1;
    if (workers > ntasks - 1)
        workers = (int)(ntasks - 1);

    pthread_mutex_lock(&pool.lock);
    workers = ensure_workers(workers) < workers ? pool.started : workers;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.ntasks = ntasks;
    pool.participants = workers;
    pool.open = 1;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.finished, 0);
    atomic_fetch_add(&pool.generation, 1);
    if (pool.sleepers)
        pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    run_tasks(fn, ctx, ntasks);

    /* Wait until every task is done and no worker still holds this job's pointers. */
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (atomic_load(&pool.finished) == ntasks && atomic_load(&pool.running) == 0)
            break;
        CPU_RELAX();
    }
    pthread_mutex_lock(&pool.lock);
    while (atomic_load(&pool.finished) != ntasks || atomic_load(&pool.running) != 0)
        pthread_cond_wait(&pool.done, &pool.lock);
    pool.open = 0; /* under the lock: no worker joins from now on */
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
}

/* A forked child has none of the parent's threads: start the pool afresh there. */
static void reset_after_fork(void)
{
    pthread_mutex_init(&pool.busy, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.started = 0;
    pool.sleepers = 0;
    atomic_store(&pool.running, 0);
}

__attribute__((constructor)) static void install_fork_handler(void)
{
    pthread_atfork(NULL, NULL, reset_after_fork);
}
