#ifndef FOREST_KERNEL_H
#define FOREST_KERNEL_H

#include <stdint.h>

/// Words per tree in the kernel's tables: 64 thresholds (float bits), 64 packed nodes (feature
/// index in the low 31 bits, bit 31 set when a missing value goes right), 64 leaf values.
#define FOREST_KERNEL_TREE_WORDS 192
/// Deepest complete tree the tables hold (63 internal nodes, 64 leaves).
#define FOREST_KERNEL_MAX_DEPTH 6

/// Widest row the kernel walks (its block of 16 rows is copied by columns onto the stack).
#define FOREST_KERNEL_MAX_WIDTH 512

/// 1 when this CPU runs the kernel (x86-64 with AVX-512F and AVX-512VL), else 0.
int forest_kernel_available(void);

/// Adds each tree's leaf to `out[r]` (tree after tree, in float32) for `count` (1...16)
/// consecutive rows of `width` (<= FOREST_KERNEL_MAX_WIDTH) values at `rows`. `missing`: whether any value of these rows is
/// NaN (then it follows the node's default direction; without, that test is skipped).
void forest_kernel_walk_rows(const float *rows, int count, int width, int depth, int trees,
                             const uint32_t *tables, int missing, float *out);

/// One row of `width` values: `margin` plus each tree's leaf, added tree after tree in float32;
/// 32 trees are walked at once.
float forest_kernel_walk_trees(const float *row, int width, int depth, int trees, const uint32_t *tables,
                               int missing, float margin);

/// TreeSHAP leaf tables, one tree for one row of `columns` values at `row`: each node's cold set
/// into `cold` from `split_count` splits (six `int32_t`s each: packed feature, threshold bits,
/// node, left, right, slot bit; parents first); then for leaves `first..<end` (`leaves` holds
/// (table offset, node, mask) triples; eight slots per leaf in `features` and `hots`) each slot's
/// term into column `features[8k + j]` of accumulator row `k & 3` (`width` floats a row) at
/// `lanes`; then `total[j] += 0 + ((l0 + l1) + (l2 + l3))` for each of the `columns` columns.
/// Only where `forest_kernel_available()` (an empty stub elsewhere).
void forest_kernel_shap_tree(const int32_t *splits, int split_count, const float *row, uint8_t *cold,
                             const int32_t *leaves, int first, int end, const int32_t *features, const float *hots,
                             const float *values, float *lanes, int width, float *total, int columns);

#endif
