/* cpu.h: what the CPU this process runs on can execute, as feature bits.
 *
 * Probed from the operating system (getauxval on Linux ARM), never from the
 * instruction set the core was compiled for: one build runs on every CPU of
 * its architecture, and a kernel family is only used where both its code was
 * built and the CPU has it. */
#ifndef PD_CPU_H
#define PD_CPU_H

#include <stdint.h>

enum {
    PD_CPU_NEON = 1u << 0,    /* Advanced SIMD: every aarch64 CPU, optional on armv7 */
    PD_CPU_NEON_DOT = 1u << 1 /* SDOT/UDOT (armv8.2-a dotprod): not on a Cortex-A53 */
};

/* The feature bits of this CPU; cheap, may be called on every net build. */
uint32_t pd_cpu_features(void);

#endif
