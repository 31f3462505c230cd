// The compiled forest's and TreeSHAP's inner loops with AVX-512 (CompiledForest.swift and
// TreeSHAP+Tables.swift call them when `forest_kernel_available()` says the CPU has AVX-512F and
// AVX-512VL, as every AVX-512 CPU but the Xeon Phi; otherwise the Swift loops run).
//
// Written by hand because nothing on this machine's package list evaluates gradient-boosted trees
// and Swift has no gather or two-table permute: 16 lanes go down their trees a level at a time,
// each level one AVX-512 gather of the lanes' feature values and, for rows of a block, two-table
// permutes of the tree's 64 thresholds and nodes held in registers (no loads for the nodes).
//
// Exactness is libxgboost 1.7.4's (src/predictor/predict_fn.h): a node goes left when
// `value < threshold` in float32 (an ordered compare: false for NaN), NaN follows the node's
// default direction, and each row adds its trees' leaves one after another in float32 in tree
// order (vaddps lane by lane is the same IEEE addition as the scalar one; no FMA, no
// reassociation). The service still compares the forest with the C API on probe rows before it
// serves (ForestVerification), through these same functions.

#include "forest_kernel.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

int forest_kernel_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") ? 1 : 0;
}

#define AVX512 __attribute__((target("avx512f")))
#define AVX512VL __attribute__((target("avx512f,avx512vl,avx2")))

// table[index] for index 0...63, the table in four registers.
static inline AVX512 __m512i lookup64(__m512i index, __m512i a, __m512i b, __m512i c, __m512i d) {
    __m512i low = _mm512_permutex2var_epi32(a, index, b);
    __m512i high = _mm512_permutex2var_epi32(c, index, d);
    return _mm512_mask_blend_epi32(_mm512_test_epi32_mask(index, _mm512_set1_epi32(32)), low, high);
}

// The child each lane goes to: 2i + 1 when `value < threshold`, else 2i + 2; NaN goes the way
// bit 31 of `packed` says (set: right).
static inline AVX512 __m512i step(__m512i position, __m512 value, __m512 threshold, __m512i packed, int missing) {
    __mmask16 right = (__mmask16)~_mm512_cmp_ps_mask(value, threshold, _CMP_LT_OQ);
    if (missing) {
        __mmask16 nan = _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q);
        __mmask16 defaultRight = _mm512_test_epi32_mask(packed, _mm512_set1_epi32((int)0x80000000u));
        right = (__mmask16)((right & ~nan) | (nan & defaultRight));
    }
    const __m512i one = _mm512_set1_epi32(1);
    position = _mm512_add_epi32(_mm512_add_epi32(position, position), one);
    return _mm512_mask_add_epi32(position, right, position, one);
}

// One tree's tables in registers: thresholds and packed nodes (64 entries each, in four
// registers; levels 0-4 reach only the first two) and its leaves' address.
typedef struct {
    __m512i threshold[4], packed[4];
    const uint32_t *leaves;
} tree_tables;

static inline AVX512 tree_tables load_tree(const uint32_t *table, int depth) {
    tree_tables tree;
    tree.threshold[0] = _mm512_loadu_si512(table), tree.threshold[1] = _mm512_loadu_si512(table + 16);
    tree.packed[0] = _mm512_loadu_si512(table + 64), tree.packed[1] = _mm512_loadu_si512(table + 80);
    tree.threshold[2] = tree.threshold[0], tree.threshold[3] = tree.threshold[1];
    tree.packed[2] = tree.packed[0], tree.packed[3] = tree.packed[1];
    if (depth > 5) {
        tree.threshold[2] = _mm512_loadu_si512(table + 32), tree.threshold[3] = _mm512_loadu_si512(table + 48);
        tree.packed[2] = _mm512_loadu_si512(table + 96), tree.packed[3] = _mm512_loadu_si512(table + 112);
    }
    tree.leaves = table + 128;
    return tree;
}

// One level down `tree` for 16 rows: each lane's value gathered from the block's columns
// (`columns[feature * 16 + lane]`).
static inline AVX512 __m512i level_down(const tree_tables *tree, __m512i position, int level, const float *columns,
                                        __mmask16 active, int missing) {
    __m512i threshold, packed;
    if (level < 5) {
        threshold = _mm512_permutex2var_epi32(tree->threshold[0], position, tree->threshold[1]);
        packed = _mm512_permutex2var_epi32(tree->packed[0], position, tree->packed[1]);
    } else {
        threshold = lookup64(position, tree->threshold[0], tree->threshold[1], tree->threshold[2], tree->threshold[3]);
        packed = lookup64(position, tree->packed[0], tree->packed[1], tree->packed[2], tree->packed[3]);
    }
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i at = _mm512_add_epi32(_mm512_slli_epi32(_mm512_and_si512(packed, _mm512_set1_epi32(0x7FFFFFFF)), 4), lane);
    __m512 value = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), active, at, columns, 4);
    return step(position, value, _mm512_castsi512_ps(threshold), packed, missing);
}

// Whether each lane goes right at `node`, every lane's value one vector load from the columns.
static inline AVX512 __mmask16 goes_right(const uint32_t *table, int node, const float *columns, int missing) {
    const uint32_t packed = table[64 + node];
    __m512 value = _mm512_loadu_ps(columns + (long)(packed & 0x7FFFFFFFu) * 16);
    __m512 threshold = _mm512_set1_ps(((const float *)table)[node]);
    __mmask16 right = (__mmask16)~_mm512_cmp_ps_mask(value, threshold, _CMP_LT_OQ);
    if (missing) {
        __mmask16 nan = _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q);
        __mmask16 defaultRight = (packed >> 31) ? 0xFFFF : 0;
        right = (__mmask16)((right & ~nan) | (nan & defaultRight));
    }
    return right;
}

// The first three levels at once (depth >= 3): all seven nodes' comparisons for every lane (no
// gather: the lanes' values for one node are a row of the columns), then each lane's path picked
// from them. Returns the level-3 position, 7 + 4 r0 + 2 r1 + r2.
static inline AVX512 __m512i top_three(const uint32_t *table, const float *columns, int missing) {
    __mmask16 n0 = goes_right(table, 0, columns, missing);
    __mmask16 n1 = goes_right(table, 1, columns, missing), n2 = goes_right(table, 2, columns, missing);
    __mmask16 n3 = goes_right(table, 3, columns, missing), n4 = goes_right(table, 4, columns, missing);
    __mmask16 n5 = goes_right(table, 5, columns, missing), n6 = goes_right(table, 6, columns, missing);
    __mmask16 r1 = (__mmask16)((n0 & n2) | (~n0 & n1));
    __mmask16 r2 = (__mmask16)((~n0 & ~r1 & n3) | (~n0 & r1 & n4) | (n0 & ~r1 & n5) | (n0 & r1 & n6));
    __m512i position = _mm512_set1_epi32(7);
    position = _mm512_mask_add_epi32(position, n0, position, _mm512_set1_epi32(4));
    position = _mm512_mask_add_epi32(position, r1, position, _mm512_set1_epi32(2));
    return _mm512_mask_add_epi32(position, r2, position, _mm512_set1_epi32(1));
}

static inline AVX512 __m512 leaf_of(const tree_tables *tree, __m512i position, int depth) {
    __m512i index = _mm512_sub_epi32(position, _mm512_set1_epi32((1 << depth) - 1));
    __m512i l0 = _mm512_loadu_si512(tree->leaves), l1 = _mm512_loadu_si512(tree->leaves + 16);
    if (depth > 5) {
        return _mm512_castsi512_ps(lookup64(index, l0, l1, _mm512_loadu_si512(tree->leaves + 32), _mm512_loadu_si512(tree->leaves + 48)));
    }
    return _mm512_castsi512_ps(_mm512_permutex2var_epi32(l0, index, l1));
}

// One tree from the top for 16 rows: the leaf position.
static inline AVX512 __m512i walk_tree(const tree_tables *tree, const uint32_t *table, int depth, const float *columns,
                                       __mmask16 active, int missing) {
    __m512i position = _mm512_setzero_si512();
    int level = 0;
    if (depth >= 3) position = top_three(table, columns, missing), level = 3;
    for (; level < depth; level++) position = level_down(tree, position, level, columns, active, missing);
    return position;
}

AVX512 void forest_kernel_walk_rows(const float *rows, int count, int width, int depth, int trees,
                                    const uint32_t *tables, int missing, float *out) {
    const __mmask16 active = (__mmask16)((1u << count) - 1);
    // The block by columns: the 16 rows' values of a feature side by side (absent rows zero).
    float columns[FOREST_KERNEL_MAX_WIDTH * 16];
    for (int f = 0; f < width; f++) {
        for (int r = 0; r < 16; r++) columns[f * 16 + r] = r < count ? rows[(long)r * width + f] : 0;
    }
    __m512 sum = _mm512_maskz_loadu_ps(active, out);
    int t = 0;
    // Two trees at a time, level by level: a gather's latency is long, and two independent walks
    // side by side keep the core busy meanwhile (one at a time ran at that latency).
    for (; t + 1 < trees; t += 2) {
        const uint32_t *ta = tables + (long)t * FOREST_KERNEL_TREE_WORDS, *tb = ta + FOREST_KERNEL_TREE_WORDS;
        tree_tables a = load_tree(ta, depth), b = load_tree(tb, depth);
        __m512i pa = _mm512_setzero_si512(), pb = _mm512_setzero_si512();
        int level = 0;
        if (depth >= 3) pa = top_three(ta, columns, missing), pb = top_three(tb, columns, missing), level = 3;
        for (; level < depth; level++) {
            pa = level_down(&a, pa, level, columns, active, missing);
            pb = level_down(&b, pb, level, columns, active, missing);
        }
        // Tree t's leaf, then tree t + 1's: the order of the sum.
        sum = _mm512_add_ps(sum, leaf_of(&a, pa, depth));
        sum = _mm512_add_ps(sum, leaf_of(&b, pb, depth));
    }
    for (; t < trees; t++) {
        const uint32_t *ta = tables + (long)t * FOREST_KERNEL_TREE_WORDS;
        tree_tables a = load_tree(ta, depth);
        sum = _mm512_add_ps(sum, leaf_of(&a, walk_tree(&a, ta, depth, columns, active, missing), depth));
    }
    _mm512_mask_storeu_ps(out, active, sum);
}

// Sixteen trees (from `first`, `count` of them) one level down for one row. With the row's values
// in registers (`inRegisters`: at most 32 values) a lane's value is a permute, not a gather.
static inline AVX512 __m512i trees_down(__m512i tree, __m512i position, const uint32_t *tables, const float *row,
                                        __m512 x0, __m512 x1, int inRegisters, __mmask16 active, int missing) {
    __m512i at = _mm512_add_epi32(tree, position);
    __m512 threshold = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), active, at, tables, 4);
    __m512i packed = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), active, _mm512_add_epi32(at, _mm512_set1_epi32(64)),
                                                  (const int *)tables, 4);
    __m512i feature = _mm512_and_si512(packed, _mm512_set1_epi32(0x7FFFFFFF));
    __m512 value = inRegisters ? _mm512_permutex2var_ps(x0, feature, x1)
                               : _mm512_mask_i32gather_ps(_mm512_setzero_ps(), active, feature, row, 4);
    return step(position, value, threshold, packed, missing);
}

static inline AVX512 __mmask16 lanes(int count) { return (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1); }

AVX512 float forest_kernel_walk_trees(const float *row, int width, int depth, int trees, const uint32_t *tables,
                                      int missing, float margin) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i words = _mm512_set1_epi32(FOREST_KERNEL_TREE_WORDS);
    const int inRegisters = width <= 32;
    __m512 x0 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps();
    if (inRegisters) {
        x0 = _mm512_maskz_loadu_ps(lanes(width), row);
        x1 = _mm512_maskz_loadu_ps(lanes(width - 16 > 0 ? width - 16 : 0), row + 16);
    }
    const __m512i leafStart = _mm512_set1_epi32(128 - ((1 << depth) - 1));
    float leaves[32];
    // Thirty-two trees at a time, as two groups of sixteen walked side by side.
    for (int first = 0; first < trees; first += 32) {
        const int count = trees - first < 32 ? trees - first : 32;
        const __mmask16 activeA = lanes(count), activeB = lanes(count - 16 > 0 ? count - 16 : 0);
        const __m512i treeA = _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(first)), words);
        const __m512i treeB = _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(first + 16)), words);
        __m512i pa = _mm512_setzero_si512(), pb = _mm512_setzero_si512();
        for (int level = 0; level < depth; level++) {
            pa = trees_down(treeA, pa, tables, row, x0, x1, inRegisters, activeA, missing);
            if (activeB) pb = trees_down(treeB, pb, tables, row, x0, x1, inRegisters, activeB, missing);
        }
        _mm512_storeu_ps(leaves, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), activeA, _mm512_add_epi32(_mm512_add_epi32(treeA, leafStart), pa), tables, 4));
        _mm512_storeu_ps(leaves + 16, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), activeB, _mm512_add_epi32(_mm512_add_epi32(treeB, leafStart), pb), tables, 4));
        // Tree order, one addition at a time: the sum's bits are libxgboost's.
        for (int k = 0; k < count; k++) margin += leaves[k];
    }
    return margin;
}

// TreeSHAP's leaf tables (Sources/Artifacts/TreeSHAP+Tables.swift), one tree for one row: the
// cold sets, the leaves, the tree's sum into the row's. A leaf's eight slot terms go at once. Its eight table entries are one gather, its eight accumulator columns (distinct within a
// leaf: its features, then one spare column per padding slot) one gather and one scatter. Each
// column gets the same float32 multiply and add, in the same leaf order, as the Swift loop.
AVX512VL void forest_kernel_shap_tree(const int32_t *splits, int split_count, const float *row, uint8_t *cold,
                                    const int32_t *leaves, int first, int end, const int32_t *features, const float *hots,
                                    const float *values, float *acc, int width, float *total, int columns) {
    // Each node's cold set (the slots whose splits the row does not follow) from its parent's;
    // splits come parents first. Scalar: a tree's splits depend on each other through `cold`.
    cold[0] = 0;
    for (int s = 0; s < split_count; s++) {
        const int32_t *split = splits + 6 * (long)s;
        const uint32_t packed = (uint32_t)split[0];
        float threshold;
        memcpy(&threshold, split + 1, sizeof threshold);
        const float x = row[packed & 0x7FFFFFFFu];
        const int right = x != x ? (int)(packed >> 31) : !(x < threshold);
        const uint8_t mine = cold[split[2]];
        const uint8_t both = (uint8_t)(mine | split[5]);
        cold[split[3]] = right ? both : mine;
        cold[split[4]] = right ? mine : both;
    }
    // Four accumulator rows, leaf k on row k & 3 (see LeafTables.lanes).
    for (int i = 0; i < 4 * width; i += 16) _mm512_mask_storeu_ps(acc + i, lanes(4 * width - i), _mm512_setzero_ps());
    // 256-bit registers for a leaf's eight slots: a 512-bit gather or scatter with eight lanes
    // masked off costs about what a full one does.
    const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256 minus_one = _mm256_set1_ps(-1.0f);
    for (int k = first; k < end; k++) {
        const int32_t *leaf = leaves + 3 * (long)k;
        const int hot = ~(int)cold[leaf[1]] & leaf[2];
        float *lane = acc + (long)(k & 3) * width;
        const __m256i hot_bits = _mm256_set1_epi32(hot);
        const __mmask8 on = _mm256_test_epi32_mask(hot_bits, bits);
        // hot & ~bit: the row's hot set without the slot's own feature.
        const __m256 entry = _mm256_i32gather_ps(values + leaf[0], _mm256_andnot_si256(bits, hot_bits), 4);
        const __m256 factor = _mm256_mask_blend_ps(on, minus_one, _mm256_loadu_ps(hots + 8 * (long)k));
        const __m256 term = _mm256_mul_ps(factor, entry);
        const __m256i column = _mm256_loadu_si256((const __m256i *)(features + 8 * (long)k));
        const __m256 sum = _mm256_add_ps(_mm256_i32gather_ps(lane, column, 4), term);
        _mm256_i32scatter_ps(lane, column, sum, 4);
    }
    // total[j] += 0 + ((l0 + l1) + (l2 + l3)): the tree's contribution, started at zero, added to
    // the row's, in the Swift loop's order.
    for (int j = 0; j < columns; j += 16) {
        const __mmask16 m = lanes(columns - j);
        const __m512 a = _mm512_add_ps(_mm512_maskz_loadu_ps(m, acc + j), _mm512_maskz_loadu_ps(m, acc + width + j));
        const __m512 b = _mm512_add_ps(_mm512_maskz_loadu_ps(m, acc + 2 * (long)width + j), _mm512_maskz_loadu_ps(m, acc + 3 * (long)width + j));
        const __m512 tree = _mm512_add_ps(_mm512_setzero_ps(), _mm512_add_ps(a, b));
        _mm512_mask_storeu_ps(total + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, total + j), tree));
    }
}

#else

int forest_kernel_available(void) { return 0; }

void forest_kernel_walk_rows(const float *rows, int count, int width, int depth, int trees,
                             const uint32_t *tables, int missing, float *out) {
    (void)rows, (void)count, (void)width, (void)depth, (void)trees, (void)tables, (void)missing, (void)out;
}

float forest_kernel_walk_trees(const float *row, int width, int depth, int trees, const uint32_t *tables,
                               int missing, float margin) {
    (void)row, (void)width, (void)depth, (void)trees, (void)tables, (void)missing;
    return margin;
}

void forest_kernel_shap_tree(const int32_t *splits, int split_count, const float *row, uint8_t *cold,
                             const int32_t *leaves, int first, int end, const int32_t *features, const float *hots,
                             const float *values, float *lanes, int width, float *total, int columns) {
    (void)splits, (void)split_count, (void)row, (void)cold, (void)leaves, (void)first, (void)end, (void)features, (void)hots;
    (void)values, (void)lanes, (void)width, (void)total, (void)columns;
}

#endif
