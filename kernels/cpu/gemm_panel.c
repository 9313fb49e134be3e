// gemm_panel.c — C = A B for a convolution's column block, without packing (AVX-512).
// (The forward's w . col_block, backward-data's w^T . dy_block and backward-filter's
// col_block . dy_block^T, fast_blas.c; this comment tells the forward's case.)
//
// The forward convolution's product is y_block (Cout, n) = w (Cout, CKK) . col_block (CKK, n),
// with col_block already in L2 (fast_blas.c builds it a block of output rows at a time). A
// general sgemm first copies ("packs") both operands into its own layout; here that copy of
// col_block costs about as much as building it, and weighs the most exactly where pruning
// leaves few output channels: its cost grows with CKK * n, the arithmetic with Cout * CKK * n.
// This kernel reads w and col_block where they lie: 6 rows of C by 32 columns in 12 AVX-512
// registers, each step of k one broadcast of w per row and two loads of col_block's row k.
// One thread of this project's 2-core AMD EPYC (Zen 5), the trained models' shapes, n = 256,
// best of 50, GMAC/s OpenBLAS | here (about 115 is the core's peak):
//   Cout 24, CKK 216: 84 | 122;  Cout 19, CKK 162: 83 | 105;  Cout 18, CKK 504: 56 | 114;
//   Cout 24, CKK 648: 81 | 115;  Cout 48, CKK 432: 98 | 115;  Cout 72, CKK 648: 103 | 107.
// A whole forward at batch 16 on 2 threads (the shipped base model and plan): base 30.1 ->
// 24.9 ms, g2 (0.81 of the MACs) 27.9 -> 22.2, g4 (0.59) 21.4 -> 16.6, with the column blocks.
// The sums run over k in order, one accumulator per output: results differ from OpenBLAS's in
// the last bits only. Without AVX-512 the build has no kernel here and OpenBLAS runs instead.
#include "cpu.h"

#ifdef __AVX512F__
#include <immintrin.h>

// Rows [m, m + R) of C, columns [j, j + 32) (the mask keeps the columns that exist: a tail);
// A's element (r, k) is a[r * rs + k * cs]. R is a compile-time constant at every call, so the
// loops over r unroll into registers.
#define PANEL(R)                                                                                    \
  static void panel##R(int K, const float *a, long rs, long cs, const float *b, int ldb, float *c,   \
                       int ldc, __mmask16 m0, __mmask16 m1, int acc) {                            \
    __m512 acc0[R], acc1[R];                                                                      \
    _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();     \
    for (int k = 0; k < K; k++, b += ldb, a += cs) {                                              \
      const __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);     \
      _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {                                       \
        const __m512 t = _mm512_set1_ps(a[r * rs]);                                               \
        acc0[r] = _mm512_fmadd_ps(t, b0, acc0[r]);                                                \
        acc1[r] = _mm512_fmadd_ps(t, b1, acc1[r]);                                                \
      }                                                                                           \
    }                                                                                             \
    _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {  /* C's values join the finished sum */   \
      if (acc) {                                                                                  \
        acc0[r] = _mm512_add_ps(acc0[r], _mm512_maskz_loadu_ps(m0, c + (long)r * ldc));            \
        acc1[r] = _mm512_add_ps(acc1[r], _mm512_maskz_loadu_ps(m1, c + (long)r * ldc + 16));       \
      }                                                                                           \
      _mm512_mask_storeu_ps(c + (long)r * ldc, m0, acc0[r]);                                      \
      _mm512_mask_storeu_ps(c + (long)r * ldc + 16, m1, acc1[r]);                                 \
    }                                                                                             \
  }
PANEL(6)
PANEL(4)
PANEL(2)
PANEL(1)

// Each panel of w's rows runs along all of col_block's columns while its rows stay in L1.
int gemm_panel_available(void) { return 1; }

int gemm_panel(int M, int n, int K, const float *A, long rs, long cs, const float *B, int ldb, float *C, int ldc,
               int acc) {
  for (int m = 0; m < M;) {
    const int R = M - m >= 6 ? 6 : M - m >= 4 ? 4 : M - m >= 2 ? 2 : 1;
    for (int j = 0; j < n; j += 32) {
      const int left = n - j;
      const __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
      const __mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
      const float *a = A + m * rs, *b = B + j;
      float *c = C + (long)m * ldc + j;
      switch (R) {
      case 6: panel6(K, a, rs, cs, b, ldb, c, ldc, m0, m1, acc); break;
      case 4: panel4(K, a, rs, cs, b, ldb, c, ldc, m0, m1, acc); break;
      case 2: panel2(K, a, rs, cs, b, ldb, c, ldc, m0, m1, acc); break;
      default: panel1(K, a, rs, cs, b, ldb, c, ldc, m0, m1, acc);
      }
    }
    m += R;
  }
  return 1;
}
#else
int gemm_panel_available(void) { return 0; }
int gemm_panel(int M, int n, int K, const float *A, long rs, long cs, const float *B, int ldb, float *C, int ldc,
               int acc) {
  return 0;
}
#endif
