/* test_sha256.c: SHA-256 (predict.h pd_sha256*, kernels/sha256.h).
 *
 * The reference against the FIPS 180-4 example digests (NIST's "SHA-256
 * examples": one block, two blocks, a million 'a'), then every implementation
 * this CPU runs against the reference: the compression function directly on
 * random chaining values and 1..9 blocks at every start offset 0..15, and the
 * public API (one-shot and streamed in random pieces) on every length 0..300
 * and on large random buffers at unaligned starts, with PREDICT_ISA=ref and
 * with the CPU's own choice.  Runs once, not per GEMM family: the SHA paths
 * are chosen apart from them (sha256.h). */
/* setenv, unsetenv: POSIX.1-2008. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/sha256.h"

static void hex(const unsigned char d[32], char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[64] = '\0';
}

static void check_vector(const char *what, const void *data, size_t n, const char *want)
{
    unsigned char d[32];
    char got[65];
    pd_sha256(data, n, d);
    hex(d, got);
    CHECK(strcmp(got, want) == 0, "%s with %s: %s, FIPS 180-4 says %s", what, pd_sha256_impl(), got,
          want);
}

static void fips_vectors(void)
{
    check_vector("\"\"", "", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_vector("NULL, 0", NULL, 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_vector("\"abc\"", "abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_vector("the 448-bit message", m448, strlen(m448),
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_vector("the 896-bit message", m896, strlen(m896),
                 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    const size_t million = 1000000;
    unsigned char *a = malloc(million);
    if (a == NULL) {
        CHECK(0, "out of memory");
        return;
    }
    memset(a, 'a', million);
    check_vector("a million 'a'", a, million,
                 "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* The same streamed in pieces that straddle blocks (1000 x 1000 bytes). */
    pd_sha256_state s;
    pd_sha256_init(&s);
    for (size_t i = 0; i < 1000; i++)
        pd_sha256_update(&s, a + 1000 * i, 1000);
    unsigned char d[32];
    char got[65];
    pd_sha256_final(&s, d);
    hex(d, got);
    CHECK(strcmp(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
          "a million 'a' in 1000-byte pieces with %s: %s", pd_sha256_impl(), got);
    free(a);
}

static void fill_bytes(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(pd_test_rand() >> 13);
}

/* The kernel's compression function against the reference's. */
static void blocks_against_ref(const pd_sha256_kernel *k)
{
    unsigned char buf[16 + 9 * 64];
    for (size_t blocks = 1; blocks <= 9; blocks++)
        for (size_t start = 0; start < 16; start++) {
            uint32_t want[8], got[8];
            for (int i = 0; i < 8; i++)
                want[i] = got[i] = pd_test_rand();
            fill_bytes(buf, sizeof buf);
            pd_sha256_blocks_ref(want, buf + start, blocks);
            k->blocks(got, buf + start, blocks);
            CHECK(memcmp(got, want, sizeof want) == 0,
                  "%s: %zu blocks at offset %zu: chaining value %08x... differs from ref's %08x...",
                  k->name, blocks, start, (unsigned)got[0], (unsigned)want[0]);
        }
}

/* Digest of p[0..n) through the public API: one-shot, or streamed in
 * random pieces of 0..150 bytes. */
static void digest(const unsigned char *p, size_t n, int streamed, unsigned char d[32])
{
    if (!streamed) {
        pd_sha256(p, n, d);
        return;
    }
    pd_sha256_state s;
    pd_sha256_init(&s);
    size_t at = 0;
    while (at < n) {
        size_t take = pd_test_rand() % 151;
        take = take < n - at ? take : n - at;
        pd_sha256_update(&s, p + at, take);
        at += take;
    }
    pd_sha256_final(&s, d);
}

/* The digest of p[0..n) made with PREDICT_ISA=isa (NULL: unset), which must
 * hash with the implementation impl, against the reference's. */
static void api_against_ref(const char *isa, const char *impl, const unsigned char *p, size_t n,
                            int streamed)
{
    unsigned char want[32], got[32];
    setenv("PREDICT_ISA", "ref", 1);
    digest(p, n, 0, want);
    if (isa != NULL)
        setenv("PREDICT_ISA", isa, 1);
    else
        unsetenv("PREDICT_ISA");
    CHECK(strcmp(pd_sha256_impl(), impl) == 0, "PREDICT_ISA=%s hashes with %s, expected %s",
          isa ? isa : "(unset)", pd_sha256_impl(), impl);
    digest(p, n, streamed, got);
    char g[65], w[65];
    hex(got, g);
    hex(want, w);
    CHECK(memcmp(got, want, 32) == 0, "%s (%s): %zu bytes%s: %s, reference %s", impl,
          isa ? isa : "default", n, streamed ? " streamed" : "", g, w);
}

/* A lane kernel against the reference, lane by lane: random chaining values,
 * 1..5 blocks, strides 0 (every lane the same blocks), 64 (adjacent) and odd
 * ones, at unaligned starts. */
static void lanes_against_ref(const pd_sha256_lanes_kernel *k)
{
    const size_t strides[] = {0, 64, 67, 131, 1000};
    const size_t lanes = k->lanes;
    unsigned char *buf = malloc(3 + 16 * 1000 + 5 * 64);
    if (buf == NULL) {
        CHECK(0, "out of memory");
        return;
    }
    for (size_t si = 0; si < sizeof strides / sizeof strides[0]; si++)
        for (size_t blocks = 1; blocks <= 5; blocks++) {
            const size_t stride = strides[si], start = blocks % 4;
            fill_bytes(buf, 3 + 16 * 1000 + 5 * 64);
            uint32_t h[8 * PD_SHA256_MAX_LANES], want[8];
            for (size_t i = 0; i < 8 * lanes; i++)
                h[i] = pd_test_rand();
            uint32_t h_in[8 * PD_SHA256_MAX_LANES];
            memcpy(h_in, h, sizeof h);
            k->blocks(h, buf + start, stride, blocks);
            for (size_t l = 0; l < lanes; l++) {
                for (size_t j = 0; j < 8; j++)
                    want[j] = h_in[j * lanes + l];
                pd_sha256_blocks_ref(want, buf + start + l * stride, blocks);
                for (size_t j = 0; j < 8; j++)
                    CHECK(h[j * lanes + l] == want[j],
                          "%s lanes: stride %zu, %zu blocks: lane %zu word %zu is %08x, ref %08x",
                          k->name, stride, blocks, l, j, (unsigned)h[j * lanes + l], (unsigned)want[j]);
            }
        }
    free(buf);
}

/* The tree checksum as predict.h defines it, from one-chunk SHA-256s. */
static void tree_by_definition(const unsigned char *p, size_t n, unsigned char d[32])
{
    pd_sha256_state root;
    pd_sha256_init(&root);
    pd_sha256_update(&root, "PNET-SHA256-T16K", 16);
    for (size_t at = 0; at < n; at += PD_SHA256_TREE_CHUNK) {
        unsigned char leaf[32];
        const size_t len = n - at < PD_SHA256_TREE_CHUNK ? n - at : PD_SHA256_TREE_CHUNK;
        pd_sha256(p + at, len, leaf);
        pd_sha256_update(&root, leaf, 32);
    }
    pd_sha256_final(&root, d);
}

/* pd_sha256_tree with every PREDICT_ISA against the definition (hashed with
 * the reference) on lengths around the chunk and lane-group edges: no whole
 * chunk, fewer whole chunks than lanes, whole groups, groups and a remainder
 * (the overlapping group), and a partial last chunk. */
static void tree_against_definition(const char *want_default)
{
    const size_t chunk = PD_SHA256_TREE_CHUNK;
    const size_t max = 70 * chunk + 2;
    unsigned char *buf = malloc(max);
    if (buf == NULL) {
        CHECK(0, "out of memory");
        return;
    }
    fill_bytes(buf, max);
    unsetenv("PREDICT_ISA");
    CHECK(strcmp(pd_sha256_tree_impl(), want_default) == 0, "the tree hashes with %s by default, "
          "expected %s", pd_sha256_tree_impl(), want_default);
    const char *isas[] = {NULL, "ref", "avx2", "avx512", "neon", "neondot"};
    for (size_t whole = 0; whole <= 69; whole += whole < 18 ? 1 : 7)
        for (size_t extra = 0; extra < 3; extra++) {
            const size_t n = whole * chunk + (extra == 0 ? 0 : extra == 1 ? 1 : chunk - 1);
            unsigned char want[32];
            setenv("PREDICT_ISA", "ref", 1);
            tree_by_definition(buf + 1, n, want);
            for (size_t j = 0; j < sizeof isas / sizeof isas[0]; j++) {
                if (isas[j] != NULL)
                    setenv("PREDICT_ISA", isas[j], 1);
                else
                    unsetenv("PREDICT_ISA");
                unsigned char got[32];
                pd_sha256_tree(buf + 1, n, got);
                CHECK(memcmp(got, want, 32) == 0, "tree of %zu bytes with %s (PREDICT_ISA=%s) "
                      "differs from its definition", n, pd_sha256_tree_impl(),
                      isas[j] ? isas[j] : "(unset)");
            }
        }
    unsetenv("PREDICT_ISA");
    free(buf);
}

void pd_test_sha256(void)
{
    pd_test_family = "sha256";
    pd_test_seed(256);

    const pd_sha256_kernel *k, *best = NULL;
    int supported = 0;
    for (size_t i = 0; (k = pd_sha256_kernel_at(i, &supported)) != NULL; i++) {
        printf("sha256   %-6s %s\n", k->name, supported ? "tested" : "skipped: this CPU lacks it");
        if (!supported)
            continue;
        best = k;
        blocks_against_ref(k);
    }

    setenv("PREDICT_ISA", "ref", 1);
    CHECK(strcmp(pd_sha256_impl(), "ref") == 0, "PREDICT_ISA=ref hashes with %s", pd_sha256_impl());
    fips_vectors();
    unsetenv("PREDICT_ISA");
    CHECK(strcmp(pd_sha256_impl(), best->name) == 0, "by default hashing uses %s, not the best (%s)",
          pd_sha256_impl(), best->name);
    fips_vectors();

    /* Every length 0..300 (all the padding cases: 55, 56, 63, 64 ...), at
     * start offsets 0..3, and big buffers at odd starts and lengths. */
    const char *isas[] = {NULL, "ref", "avx512", "neon"};
    unsigned char *buf = malloc(3 * 1024 * 1024 + 64);
    if (buf == NULL) {
        CHECK(0, "out of memory");
        return;
    }
    fill_bytes(buf, 3 * 1024 * 1024 + 64);
    for (size_t j = 0; j < sizeof isas / sizeof isas[0]; j++) {
        const char *impl = isas[j] != NULL && strcmp(isas[j], "ref") == 0 ? "ref" : best->name;
        for (size_t n = 0; n <= 300; n++)
            for (int streamed = 0; streamed < 2; streamed++)
                api_against_ref(isas[j], impl, buf + n % 4, n, streamed);
        const size_t big[] = {65536, 1000003, 3 * 1024 * 1024 + 1};
        for (size_t b = 0; b < sizeof big / sizeof big[0]; b++)
            for (int streamed = 0; streamed < 2; streamed++)
                api_against_ref(isas[j], impl, buf + 1 + 2 * b, big[b], streamed);
    }
    unsetenv("PREDICT_ISA");
    free(buf);

    const pd_sha256_lanes_kernel *lk, *widest = NULL;
    for (size_t i = 0; (lk = pd_sha256_lanes_at(i, &supported)) != NULL; i++) {
        printf("sha256   %-6s x%zu lanes %s\n", lk->name, lk->lanes,
               supported ? "tested" : "skipped: this CPU lacks it");
        if (!supported)
            continue;
        widest = lk;
        lanes_against_ref(lk);
    }
    /* The CPU's SHA instructions beat the lanes; without them the widest lanes run. */
    const int has_sha = (pd_cpu_features_cached() & PD_CPU_SHA256) != 0;
    tree_against_definition(has_sha || widest == NULL ? best->name : widest->impl);
}
