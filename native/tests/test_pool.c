/* test_pool.c: how a GEMM is cut into tasks (pool.c).  Family-independent,
 * but cheap enough to run with every family.
 *
 * For every shape and thread count: the tiles cover the m x n output exactly
 * once, start on unit boundaries (12 rows, whole panels), the tile count is
 * what pd_pool_run is given, and tiles along one axis differ by at most one
 * unit. */
#include "check.h"
#include "pool.h"

static void tiles_case(int32_t threads, size_t m, size_t n, size_t ru, size_t cu)
{
    const pd_gemm_tiles t = pd_plan_gemm_tiles(threads, m, n, ru, cu);
    const size_t tasks = t.row_tiles * t.col_tiles;
    CHECK(tasks >= 1 && (threads > 1 || tasks == 1), "threads %d m %zu n %zu: %zu tasks", (int)threads,
          m, n, tasks);
    size_t covered = 0, least_r = SIZE_MAX, most_r = 0, least_c = SIZE_MAX, most_c = 0;
    for (size_t task = 0; task < tasks; task++) {
        size_t i0, i1, c0, c1;
        pd_gemm_tile(&t, m, n, task, &i0, &i1, &c0, &c1);
        CHECK(i0 <= i1 && i1 <= m && c0 <= c1 && c1 <= n && i0 % ru == 0 && c0 % cu == 0,
              "threads %d m %zu n %zu task %zu: rows [%zu, %zu) cols [%zu, %zu)", (int)threads, m, n,
              task, i0, i1, c0, c1);
        if (task % t.col_tiles == 0) { /* consecutive row tiles meet */
            size_t p0, p1, q0, q1;
            if (task > 0) {
                pd_gemm_tile(&t, m, n, task - t.col_tiles, &p0, &p1, &q0, &q1);
                CHECK(p1 == i0, "threads %d m %zu n %zu: row tiles [%zu, %zu) then [%zu, ...)",
                      (int)threads, m, n, p0, p1, i0);
            }
        }
        if (task > 0 && task % t.col_tiles != 0) { /* consecutive column tiles meet */
            size_t p0, p1, q0, q1;
            pd_gemm_tile(&t, m, n, task - 1, &p0, &p1, &q0, &q1);
            CHECK(q1 == c0, "threads %d m %zu n %zu: column tiles [%zu, %zu) then [%zu, ...)",
                  (int)threads, m, n, q0, q1, c0);
        }
        covered += (i1 - i0) * (c1 - c0);
        const size_t ur = (i1 - i0 + ru - 1) / ru, uc = (c1 - c0 + cu - 1) / cu;
        if (i1 < m) { /* the last tile may hold a partial unit */
            least_r = ur < least_r ? ur : least_r;
            most_r = ur > most_r ? ur : most_r;
        }
        if (c1 < n) {
            least_c = uc < least_c ? uc : least_c;
            most_c = uc > most_c ? uc : most_c;
        }
    }
    CHECK(covered == m * n, "threads %d m %zu n %zu: tiles cover %zu of %zu", (int)threads, m, n,
          covered, m * n);
    /* Cut along one side into at least 4 tiles a thread's worth of units, the tiles dealt to
     * the threads in turn give none more than its even share, rounded up. */
    const size_t want = 4 * (size_t)threads;
    const int by_rows = t.col_tiles == 1 && t.row_units >= want, by_cols = t.row_tiles == 1 && t.col_units >= want;
    if (threads > 1 && (by_rows || by_cols)) {
        size_t load[64] = {0}, busiest = 0;
        for (size_t task = 0; task < tasks; task++) {
            size_t i0, i1, c0, c1;
            pd_gemm_tile(&t, m, n, task, &i0, &i1, &c0, &c1);
            load[task % (size_t)threads] += by_rows ? (i1 - i0 + ru - 1) / ru : (c1 - c0 + cu - 1) / cu;
        }
        for (int32_t th = 0; th < threads; th++)
            busiest = load[th] > busiest ? load[th] : busiest;
        const size_t units = by_rows ? t.row_units : t.col_units;
        CHECK(busiest == (units + (size_t)threads - 1) / (size_t)threads,
              "threads %d m %zu n %zu: %zu units dealt in %zu tiles, %zu to the busiest thread", (int)threads, m,
              n, units, tasks, busiest);
    }
    CHECK(most_r == 0 || most_r - least_r <= 1, "threads %d m %zu n %zu: row tiles of %zu to %zu units",
          (int)threads, m, n, least_r, most_r);
    CHECK(most_c == 0 || most_c - least_c <= 1, "threads %d m %zu n %zu: column tiles of %zu to %zu units",
          (int)threads, m, n, least_c, most_c);
}

void pd_test_gemm_tiles(void)
{
    static const size_t sizes[] = {1, 7, 11, 12, 13, 16, 49, 64, 96, 160, 196, 576, 784, 1280, 3136, 12544};
    const size_t n_sizes = sizeof sizes / sizeof sizes[0];
    for (int32_t threads = 1; threads <= 5; threads++)
        for (size_t a = 0; a < n_sizes; a++)
            for (size_t b = 0; b < n_sizes; b++)
                tiles_case(threads, sizes[a], sizes[b], 12, 16);
    tiles_case(2, 0, 5, 12, 16);
    tiles_case(64, 100000, 3, 12, 16);
    tiles_case(2, 49, 320, 12, 16); /* MobileNetV2's 7x7 project: 20 panels, not 8 + 12 */
    tiles_case(2, 49, 960, 12, 16);
}
