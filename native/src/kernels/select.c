/* select.c: which kernel family nets run with.
 *
 * A family is usable when its code was built for this architecture (its
 * table function returns non-NULL) and the CPU has the features it needs
 * (pd_cpu_features, from the operating system).  PREDICT_ISA=ref|neon|neondot
 * forces a family so that tests can run every path the CPU supports; a name
 * that is unknown, not built or not supported here is ignored and the best
 * usable family is taken, so a forced setting never makes a net unusable.
 * Nothing is cached: the probe is a getauxval call, made once per net build. */
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/kernels.h"

typedef struct family {
    const char *name;
    uint32_t needs; /* PD_CPU_* bits */
    const pd_kernels *(*table)(void);
} family;

/* Best first: the first usable one is the default. */
static const family families[] = {
    {"neondot", PD_CPU_NEON | PD_CPU_NEON_DOT, pd_kernels_neondot},
    {"neon", PD_CPU_NEON, pd_kernels_neon},
    {"ref", 0, pd_kernels_ref},
};

#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

const char *pd_kernel_family_name(size_t i)
{
    return i < N_FAMILIES ? families[i].name : NULL;
}

static const pd_kernels *usable(const family *f, uint32_t cpu)
{
    if ((cpu & f->needs) != f->needs)
        return NULL;
    return f->table();
}

const pd_kernels *pd_kernels_find(const char *name)
{
    uint32_t cpu = pd_cpu_features();
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (strcmp(families[i].name, name) == 0)
            return usable(&families[i], cpu);
    return NULL;
}

const pd_kernels *pd_kernels_built(const char *name)
{
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (strcmp(families[i].name, name) == 0)
            return families[i].table();
    return NULL;
}

const pd_kernels *pd_kernels_get(void)
{
    const char *forced = getenv("PREDICT_ISA");
    if (forced != NULL && forced[0] != '\0') {
        const pd_kernels *k = pd_kernels_find(forced);
        if (k != NULL)
            return k;
    }
    uint32_t cpu = pd_cpu_features();
    for (size_t i = 0; i < N_FAMILIES; i++) {
        const pd_kernels *k = usable(&families[i], cpu);
        if (k != NULL)
            return k;
    }
    return pd_kernels_ref(); /* not reached: ref needs nothing */
}
