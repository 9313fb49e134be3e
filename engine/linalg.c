// linalg.c — cyclic Jacobi eigensolver and the PSD matrix square root built on it.
#include "linalg.h"
#include "common.h"
#include <math.h>
#include <string.h>

// Cyclic Jacobi (Golub & Van Loan, Matrix Computations, §8.5): each rotation zeroes one
// off-diagonal pair A[p][q]; sweeping over all pairs until the off-diagonal mass vanishes
// converges quadratically. The rotation angle comes from the stable formula
//   theta = (A[q][q] - A[p][p]) / (2 A[p][q]),  t = sign(theta) / (|theta| + sqrt(theta^2 + 1))
// so that |t| <= 1 and no cancellation occurs.
int linalg_eigh(int n, const double *a_in, double *w, double *v) {
  double *a = xmalloc(sizeof(double) * n * n), *vv = v ? v : xmalloc(sizeof(double) * n * n);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) a[i * n + j] = a_in[(i < j ? i : j) * n + (i < j ? j : i)];
  for (int i = 0; i < n * n; i++) vv[i] = 0;
  for (int i = 0; i < n; i++) vv[i * n + i] = 1;

  double norm = 0;
  for (int i = 0; i < n * n; i++) norm += a[i] * a[i];
  int sweep = 0;
  for (; sweep < 100; sweep++) {
    double off = 0;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    if (off <= 1e-30 * norm || off == 0) break;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) {
        double apq = a[p * n + q];
        if (apq == 0) continue;
        double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        // A <- J^T A J with J the rotation in the (p,q) plane: rows, then columns.
        for (int k = 0; k < n; k++) {
          double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; k++) {
          double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = a[q * n + p] = 0;
        for (int k = 0; k < n; k++) {
          double vkp = vv[k * n + p], vkq = vv[k * n + q];
          vv[k * n + p] = c * vkp - s * vkq;
          vv[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  // Sort ascending (selection sort: n is small), permuting the eigenvector columns along.
  for (int i = 0; i < n; i++) w[i] = a[i * n + i];
  for (int i = 0; i < n; i++) {
    int m = i;
    for (int j = i + 1; j < n; j++)
      if (w[j] < w[m]) m = j;
    if (m == i) continue;
    double t = w[i]; w[i] = w[m]; w[m] = t;
    for (int k = 0; k < n; k++) { t = vv[k * n + i]; vv[k * n + i] = vv[k * n + m]; vv[k * n + m] = t; }
  }
  free(a);
  if (!v) free(vv);
  return sweep;
}

void linalg_sqrtm_psd(int n, const double *a, double *out, int *nclamped, double *most_negative) {
  double *w = xmalloc(sizeof(double) * n), *v = xmalloc(sizeof(double) * n * n);
  linalg_eigh(n, a, w, v);
  int clamped = 0;
  double neg = 0;
  for (int i = 0; i < n; i++) {
    if (w[i] < 0) { clamped++; if (w[i] < neg) neg = w[i]; w[i] = 0; }
    w[i] = sqrt(w[i]);
  }
  for (int i = 0; i < n; i++)  // out = V diag(sqrt w) V^T, symmetric by construction
    for (int j = i; j < n; j++) {
      double s = 0;
      for (int k = 0; k < n; k++) s += v[i * n + k] * w[k] * v[j * n + k];
      out[i * n + j] = out[j * n + i] = s;
    }
  if (nclamped) *nclamped = clamped;
  if (most_negative) *most_negative = neg;
  free(w);
  free(v);
}

int linalg_singular_values(int n, const double *a_in, double *sv) {
  double *a = xmalloc(sizeof(double) * n * n);
  memcpy(a, a_in, sizeof(double) * n * n);
  int sweep = 0, rotated = 1;
  for (; rotated && sweep < 100; sweep++) {
    rotated = 0;
    for (int i = 0; i < n; i++)
      for (int j = i + 1; j < n; j++) {
        double alpha = 0, beta = 0, gamma = 0;  // |a_i|^2, |a_j|^2, a_i . a_j (columns)
        for (int k = 0; k < n; k++) {
          alpha += a[k * n + i] * a[k * n + i];
          beta += a[k * n + j] * a[k * n + j];
          gamma += a[k * n + i] * a[k * n + j];
        }
        if (fabs(gamma) <= 1e-15 * sqrt(alpha * beta)) continue;  // already orthogonal
        rotated = 1;
        double zeta = (beta - alpha) / (2 * gamma);
        double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
        double c = 1 / sqrt(1 + t * t), s = c * t;
        for (int k = 0; k < n; k++) {
          double ai = a[k * n + i], aj = a[k * n + j];
          a[k * n + i] = c * ai - s * aj;
          a[k * n + j] = s * ai + c * aj;
        }
      }
  }
  for (int j = 0; j < n; j++) {
    double s = 0;
    for (int k = 0; k < n; k++) s += a[k * n + j] * a[k * n + j];
    sv[j] = sqrt(s);
  }
  free(a);
  return sweep;
}

void linalg_matmul(int n, const double *a, const double *b, double *c) {
  memset(c, 0, sizeof(double) * n * n);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < n; k++) {
      double aik = a[i * n + k];
      for (int j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
}
