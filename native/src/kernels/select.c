/* select.c: which kernel family a net runs with (kernels.h, "Choosing").
 *
 * The CPU probe and the family tables are computed once per process under
 * pthread_once, then only read.  PREDICT_ISA is read at every call, so a test
 * can build nets with each family in one process. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "kernels/kernels.h"
#include "kernels/q8.h"

typedef struct family {
    const char *name;
    int32_t isa;                     /* pd_isa */
    int32_t needs;                   /* pd_cpu_feature bits */
    void (*fill)(pd_kernels *k);     /* NULL: the reference itself */
    void (*fill_q8)(pd_q8_kernels *k, int32_t cpu); /* NULL: the reference int8 table */
} family;

/* Best last: with no PREDICT_ISA the last built family the CPU runs wins. */
static const family families[] = {
    {"ref", PD_ISA_REF, 0, NULL, NULL},
#if PD_BUILD_X86
    {"avx2", PD_ISA_AVX2, PD_CPU_AVX2, pd_kernels_fill_avx2, pd_q8_fill_avx2},
    {"avx512", PD_ISA_AVX512, PD_CPU_AVX2 | PD_CPU_AVX512, pd_kernels_fill_avx512, pd_q8_fill_avx512},
#endif
#if PD_BUILD_NEON
    {"neon", PD_ISA_NEON, PD_CPU_NEON, pd_kernels_fill_neon, pd_q8_fill_neon},
#endif
#if PD_BUILD_NEONDOT
    {"neondot", PD_ISA_NEONDOT, PD_CPU_NEON | PD_CPU_NEONDOT, pd_kernels_fill_neondot, pd_q8_fill_neondot},
#endif
};

#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

/* Names that PREDICT_ISA accepts even where the family is not built, so the
 * message says "not built" rather than "unknown". */
static const char *const known_names[] = {"ref", "avx2", "avx512", "neon", "neondot"};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int32_t cpu_features;
static pd_kernels tables[N_FAMILIES];
static pd_q8_kernels q8_tables[N_FAMILIES];

static void init(void)
{
#if PD_BUILD_X86
    cpu_features = pd_cpu_probe_x86();
#elif PD_BUILD_NEON
    cpu_features = pd_cpu_probe_arm();
#else
    cpu_features = 0;
#endif
    for (size_t i = 0; i < N_FAMILIES; i++) {
        tables[i] = *pd_kernels_ref();
        tables[i].name = families[i].name;
        tables[i].isa = families[i].isa;
        if (families[i].fill != NULL)
            families[i].fill(&tables[i]);
        q8_tables[i] = *pd_q8_kernels_ref();
        if (families[i].fill_q8 != NULL)
            families[i].fill_q8(&q8_tables[i], cpu_features);
        tables[i].q8 = &q8_tables[i];
    }
}

int32_t pd_cpu_features_cached(void)
{
    pthread_once(&once, init);
    return cpu_features;
}

const pd_kernels *pd_kernels_select(char *err, size_t err_size)
{
    pthread_once(&once, init);
    const char *want = getenv("PREDICT_ISA");
    if (want == NULL || want[0] == '\0') {
        size_t best = 0;
        for (size_t i = 0; i < N_FAMILIES; i++)
            if ((cpu_features & families[i].needs) == families[i].needs)
                best = i;
        return &tables[best];
    }
    for (size_t i = 0; i < N_FAMILIES; i++) {
        if (strcmp(want, families[i].name) != 0)
            continue;
        if ((cpu_features & families[i].needs) != families[i].needs) {
            pd_fail(err, err_size, PD_ERR_UNSUPPORTED,
                    "PREDICT_ISA=%s: this CPU (or its OS) lacks the instructions it needs "
                    "(cpu features 0x%x, needed 0x%x)", want, (unsigned)cpu_features,
                    (unsigned)families[i].needs);
            return NULL;
        }
        return &tables[i];
    }
    for (size_t i = 0; i < sizeof(known_names) / sizeof(known_names[0]); i++)
        if (strcmp(want, known_names[i]) == 0) {
            pd_fail(err, err_size, PD_ERR_UNSUPPORTED,
                    "PREDICT_ISA=%s: this build has no %s kernels (another architecture)", want, want);
            return NULL;
        }
    pd_fail(err, err_size, PD_ERR_UNSUPPORTED,
            "PREDICT_ISA=%.40s: unknown; use one of ref, avx2, avx512, neon, neondot", want);
    return NULL;
}

const pd_kernels *pd_kernels_family(size_t i, int *supported)
{
    pthread_once(&once, init);
    if (i >= N_FAMILIES)
        return NULL;
    *supported = (cpu_features & families[i].needs) == families[i].needs;
    return &tables[i];
}

const char *pd_isa_name(void)
{
    const pd_kernels *k = pd_kernels_select(NULL, 0);
    return k != NULL ? k->name : NULL;
}

int32_t pd_cpu_features(void)
{
    return pd_cpu_features_cached();
}
