/* sha256.h: the SHA-256 compression function (FIPS 180-4, section 6.2.2) as
 * a small kernel family of its own, and how one is chosen.
 *
 * The public API (predict.h: pd_sha256, pd_sha256_init/update/final) lives in
 * sha256.c, portable C that buffers, pads and counts; it hands whole 64-byte
 * blocks to one of these:
 *   ref    kernels/ref/sha256_ref.c       the specification, plain C11
 *   shani  kernels/x86/sha256_shani.c     x86 SHA extensions (sha256rnds2 ...)
 *   armv8  kernels/arm/sha256_armv8.c     aarch64 SHA2 instructions (sha256h ...)
 * Like the other kernels, an instruction-set file carries its own target
 * pragma and compiles to nothing where it cannot be built, and is only called
 * once the CPU probe (PD_CPU_SHA256) said yes.  The choice is not tied to the
 * GEMM families (a CPU with AVX-512 may lack SHA, one without AVX may have
 * it): PREDICT_ISA=ref forces the reference, any other value leaves the
 * choice to the CPU.  Every implementation gives the same digest, so the
 * choice may differ from call to call of one stream. */
#ifndef PD_SHA256_H
#define PD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* Which fast paths this compiler and target can build. */
#define PD_BUILD_SHANI PD_BUILD_X86
#if (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
#define PD_BUILD_SHA256_ARMV8 1
#else
#define PD_BUILD_SHA256_ARMV8 0
#endif

/* The round constants K0..K63 (FIPS 180-4, 4.2.2), for every implementation. */
extern const uint32_t pd_sha256_k[64];

/* Runs the compression function over n consecutive 64-byte blocks at p (any
 * alignment), updating the chaining value h (h[0] is a ... h[7] is h). */
typedef void (*pd_sha256_blocks_fn)(uint32_t h[8], const unsigned char *p, size_t n);

typedef struct pd_sha256_kernel {
    const char *name;        /* "ref", "shani", "armv8" */
    pd_sha256_blocks_fn blocks;
} pd_sha256_kernel;

void pd_sha256_blocks_ref(uint32_t h[8], const unsigned char *p, size_t n);
#if PD_BUILD_SHANI
void pd_sha256_blocks_shani(uint32_t h[8], const unsigned char *p, size_t n);
#endif
#if PD_BUILD_SHA256_ARMV8
void pd_sha256_blocks_armv8(uint32_t h[8], const unsigned char *p, size_t n);
#endif

/* The implementation to hash with now (see above); never NULL. */
const pd_sha256_kernel *pd_sha256_select(void);

/* For the C tests: implementation i of this build, reference first, NULL past
 * the last; *supported says whether this CPU runs it. */
const pd_sha256_kernel *pd_sha256_kernel_at(size_t i, int *supported);

#endif
