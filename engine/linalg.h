// linalg.h — small dense symmetric linear algebra in double precision, on the host.
//
// Enough for FID: the eigendecomposition of a symmetric matrix (cyclic Jacobi, which is
// simple, unconditionally stable and accurate to working precision for the 64–256
// dimensional covariances we meet) and the square root of a positive semi-definite one.
// Matrices are n×n, row-major.
#pragma once

// a = V diag(w) V^T. a is read (only its upper triangle matters) and left untouched;
// w (n) receives the eigenvalues in ascending order, v (n×n, may be NULL) the eigenvectors
// as columns. Returns the number of Jacobi sweeps (a sweep visits every off-diagonal pair).
int linalg_eigh(int n, const double *a, double *w, double *v);

// out = a^{1/2} for a symmetric positive semi-definite a: V diag(sqrt(max(w, 0))) V^T.
// Rounding makes the tiny eigenvalues of a singular covariance come out slightly negative;
// they are clamped to 0. *nclamped (may be NULL) receives how many were, *most_negative
// (may be NULL) the most negative eigenvalue seen (0 when none was). out may alias a.
void linalg_sqrtm_psd(int n, const double *a, double *out, int *nclamped, double *most_negative);

// The singular values of a (n×n), in no particular order, by one-sided Jacobi (Hestenes):
// rotations orthogonalise the columns, whose norms are then the singular values. Unlike
// the eigenvalues of a^T a, they come out with an error of order eps·|a| rather than
// sqrt(eps)·|a| for the tiny ones. Returns the number of sweeps.
int linalg_singular_values(int n, const double *a, double *sv);

// c = a b for n×n matrices (c must not alias a or b).
void linalg_matmul(int n, const double *a, const double *b, double *c);
