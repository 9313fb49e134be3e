// kid.h — KID-FMNIST: the Kernel Inception Distance (Bińkowski et al., "Demystifying MMD
// GANs", 2018) in the feature space of stepscope's own classifier (classifier.h), not
// Inception's. KID is the unbiased estimate of the squared maximum mean discrepancy with the
// cubic polynomial kernel k(x, y) = (x·y / d + 1)^3:
//   KID = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
//         - 2/(mn) sum_{i,j} k(x_i, y_j).
// Unlike FID it has no bias that depends on the number of images, and it can come out
// slightly negative when two sets are alike. It is computed over subsets and reported as a
// mean and a spread, as its authors do.
#pragma once

// KID between features x (m, d) and y (n, d), m, n >= 2. Sums in double.
double kid_unbiased(const float *x, long m, const float *y, long n, int d);

// KID of a set of features against reference features, over subsets of m: x (n, d) is cut
// into n / m consecutive subsets (the rest is left out), and subset k is compared with m of
// the ref (nref, d) rows chosen without replacement by a shuffle seeded with first + k. Two
// sets cut the same way with the same first meet the same reference rows, so their subset
// values pair up. Writes n / m values to out and returns how many (0 when n < m or nref < m).
int kid_subsets(const float *x, long n, const float *ref, long nref, int d, int m, int first, double *out);
