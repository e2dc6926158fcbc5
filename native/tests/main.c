/* main.c: runs the C kernel tests for every kernel family this CPU supports.
 *
 *   ctest                          every family built here that the CPU runs
 *   ctest neon ref                 only these (one the CPU lacks is a failure)
 *   ctest --expect-default neon    also checks which family a net gets by default
 *   ctest --unchecked neondot      runs the family's kernels even if the CPU lacks
 *                                  them: must crash (SIGILL) on such a CPU, which
 *                                  proves the fallback above is not vacuous
 *
 * Each family runs in a child process: a crash (e.g. SIGILL when a family
 * runs on a CPU without its instructions) is reported with its signal, and
 * the exit status is non-zero if anything failed.  With --unchecked the exit
 * status is 0 only if the family crashed with SIGILL. */
/* setenv, unsetenv, strsignal, fork: POSIX.1-2008. */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* Runs the tests of one family in a child; returns its wait status, or -1. */
static int run_child(const char *name, const pd_kernels *table, int direct_only)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        if (direct_only) {
            /* The expected SIGILL leaves no core file behind. */
            struct rlimit none = {0, 0};
            setrlimit(RLIMIT_CORE, &none);
        }
        pd_test_family = name;
        pd_test_table = table;
        pd_test_gemm();
        pd_test_gemm_tiles();
        pd_test_int8();
        pd_test_q8();
        if (!direct_only) {
            pd_test_conv();
            pd_test_depthwise();
            pd_test_eltwise();
            pd_test_whole_net();
            pd_test_resample();
        }
        fflush(stderr);
        _exit(pd_test_failures == 0 ? 0 : 1);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) {
        perror("waitpid");
        return -1;
    }
    return status;
}

/* SHA-256 (its own implementations, not a family's) in a child; 0 if ok. */
static int run_sha256(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        pd_test_sha256();
        fflush(stdout);
        fflush(stderr);
        _exit(pd_test_failures == 0 ? 0 : 1);
    }
    int status = 0;
    int ok = waitpid(pid, &status, 0) >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("%-8s %s\n", "sha256", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

/* Family name of this build, whether or not the CPU runs it; NULL if unknown. */
static const pd_kernels *family(const char *name, int *supported)
{
    const pd_kernels *k;
    for (size_t i = 0; (k = pd_kernels_family(i, supported)) != NULL; i++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* 0 if the family passed, 1 otherwise. */
static int run_family(const char *name)
{
    int supported = 0;
    const pd_kernels *table = family(name, &supported);
    if (table == NULL || !supported) {
        printf("%-8s FAILED: %s\n", name, table == NULL ? "not built here" : "this CPU lacks it");
        return 1;
    }
    int status = run_child(name, table, 0);
    if (status != -1 && WIFSIGNALED(status)) {
        printf("%-8s CRASHED with signal %d (%s)\n", name, WTERMSIG(status), strsignal(WTERMSIG(status)));
        return 1;
    }
    int ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("%-8s %s\n", name, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

/* 0 if the family, forced onto this CPU, died of SIGILL. */
static int run_unchecked(const char *name)
{
    int supported = 0;
    const pd_kernels *table = family(name, &supported);
    if (table == NULL) {
        printf("%-8s FAILED: not built for this architecture\n", name);
        return 1;
    }
    if (supported) {
        printf("%-8s FAILED: this CPU supports it, nothing to prove\n", name);
        return 1;
    }
    int status = run_child(name, table, 1);
    if (status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGILL) {
        printf("%-8s forced onto a CPU without it: SIGILL, as it must (so dispatch is what avoids it)\n",
               name);
        return 0;
    }
    printf("%-8s FAILED: forced onto a CPU without it, it did not die of SIGILL (status %#x)\n", name,
           (unsigned)status);
    return 1;
}

int main(int argc, char **argv)
{
    const char *expect = NULL;
    const char *named[16];
    int n_named = 0, failed = 0, ran = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--expect-default") == 0 && i + 1 < argc) {
            expect = argv[++i];
        } else if (strcmp(argv[i], "--unchecked") == 0 && i + 1 < argc) {
            return run_unchecked(argv[++i]);
        } else if (argv[i][0] == '-' || n_named == (int)(sizeof named / sizeof named[0])) {
            fprintf(stderr, "usage: %s [--expect-default FAMILY] [--unchecked FAMILY] [FAMILY...]\n",
                    argv[0]);
            return 2;
        } else {
            named[n_named++] = argv[i];
        }
    }

    const int32_t cpu = pd_cpu_features();
    unsetenv("PREDICT_ISA");
    const char *dflt = pd_isa_name();
    printf("cpu features 0x%x (avx2 %d, avx512 %d, neon %d, neondot %d, sha256 %d); default family: %s\n",
           (unsigned)cpu, !!(cpu & PD_CPU_AVX2), !!(cpu & PD_CPU_AVX512), !!(cpu & PD_CPU_NEON),
           !!(cpu & PD_CPU_NEONDOT), !!(cpu & PD_CPU_SHA256), dflt);
    if (expect != NULL && strcmp(expect, dflt) != 0) {
        printf("FAIL: the default family is %s, expected %s\n", dflt, expect);
        failed++;
    }

    failed += run_sha256();
    if (n_named > 0) {
        for (int i = 0; i < n_named; i++, ran++)
            failed += run_family(named[i]);
    } else {
        const pd_kernels *k;
        int supported = 0;
        for (size_t i = 0; (k = pd_kernels_family(i, &supported)) != NULL; i++) {
            if (!supported) {
                printf("%-8s skipped: this CPU lacks it\n", k->name);
                continue;
            }
            failed += run_family(k->name);
            ran++;
        }
    }
    printf("%d famil%s tested, %s\n", ran, ran == 1 ? "y" : "ies", failed ? "FAILED" : "all ok");
    return failed ? 1 : 0;
}
