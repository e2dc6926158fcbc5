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
/* The initial hash value H(0) (FIPS 180-4, 5.3.3). */
extern const uint32_t pd_sha256_h0[8];

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

/* Lane kernels, for the tree checksum (sha256_tree.c) on CPUs without SHA-256
 * instructions: the compression function run on `lanes` independent streams
 * at once, one stream per SIMD lane.  Lane l hashes n consecutive 64-byte
 * blocks starting at p + l * stride (stride 0: every lane the same blocks),
 * with stride * lanes < 2^31; h holds the chaining values word-major,
 * h[j * lanes + l] being word j of lane l.  Each lane's result equals
 * pd_sha256_blocks_ref on that lane's blocks.
 *   avx2    kernels/x86/sha256_lanes_avx2.c     8 lanes
 *   avx512  kernels/x86/sha256_lanes_avx512.c   16 lanes
 *   neon    kernels/arm/sha256_lanes_neon.c     4 lanes (aarch64 and armv7) */
typedef void (*pd_sha256_lanes_fn)(uint32_t *h, const unsigned char *p, size_t stride, size_t n);

typedef struct pd_sha256_lanes_kernel {
    const char *name;        /* "avx2", "avx512", "neon": the PREDICT_ISA family it belongs to */
    const char *impl;        /* "avx2x8", "avx512x16", "neonx4": pd_sha256_tree_impl's name */
    size_t lanes;
    pd_sha256_lanes_fn blocks;
    int32_t cpu;             /* the pd_cpu_feature bits it needs */
} pd_sha256_lanes_kernel;

#define PD_SHA256_MAX_LANES 16

#if PD_BUILD_X86
void pd_sha256_lanes_avx2(uint32_t *h, const unsigned char *p, size_t stride, size_t n);
void pd_sha256_lanes_avx512(uint32_t *h, const unsigned char *p, size_t stride, size_t n);
#endif
#if PD_BUILD_NEON
void pd_sha256_lanes_neon(uint32_t *h, const unsigned char *p, size_t stride, size_t n);
#endif

/* The lane kernel the tree checksum uses now, or NULL for one chunk at a time
 * with pd_sha256_select(): NULL where the CPU has SHA-256 instructions (they
 * beat the lanes), with PREDICT_ISA=ref, and where no lane kernel runs here.
 * Otherwise the widest that the CPU runs, capped by PREDICT_ISA (avx2 takes
 * the 8 lanes on a CPU with AVX-512). */
const pd_sha256_lanes_kernel *pd_sha256_lanes_select(void);

/* For the C tests: lane kernel i of this build, NULL past the last;
 * *supported says whether this CPU runs it. */
const pd_sha256_lanes_kernel *pd_sha256_lanes_at(size_t i, int *supported);

/* The implementation to hash with now (see above); never NULL. */
const pd_sha256_kernel *pd_sha256_select(void);

/* For the C tests: implementation i of this build, reference first, NULL past
 * the last; *supported says whether this CPU runs it. */
const pd_sha256_kernel *pd_sha256_kernel_at(size_t i, int *supported);

#endif
