// Fused CPU kernels of the sparse spectral convolution (the `cpp` backend).
//
// Two kernels, each a single pass over the grid per (batch, channel) field:
//
//   analysis:  X[q][r] = sum_n x_r(n) prod_i t_i(k_i(q), n_i)     (t = cos - i sin, tables scaled by the caller)
//   synthesis: y_r(n) = b + Re sum_q Y[q][r] prod_i t_i(k_i(q), n_i)   (t = cos + i sin)
//
// Axis order follows the `dft` backend: the last axis first, at the distinct last-axis
// frequencies U, using the symmetry of cos/sin under n -> N - n (each pair of samples is
// folded into one even and one odd value, halving the multiply-adds); then one complex
// contraction per earlier axis to the distinct suffixes (k_i, ..., k_last) that some mode
// uses, ending at the modes. Synthesis is the mirror, with the bias added in the store of y.
// Every table (cos/sin of integer-reduced phases, the Nyquist split, 1/N, and zero rows
// for frequencies a grid does not resolve) is built in Python (plan.py) and passed in.
//
// Portable C++17 with GCC/Clang vector extensions: the vector width follows the target
// (-march=native: 64 bytes with AVX-512, 32 with AVX/AVX2, else 16). OpenMP parallelises
// over fields (or over row blocks in 1-D) with the thread count the caller passes
// (torch.get_num_threads()). The pure-PyTorch twin is the `dft`/`fft` backends.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
#define SS_VBYTES 64
#elif defined(__AVX__)
#define SS_VBYTES 32
#else
#define SS_VBYTES 16
#endif

namespace {

typedef int64_t i64;

template <class T>
struct Vec {
  typedef T type __attribute__((vector_size(SS_VBYTES)));
  static constexpr int n = SS_VBYTES / (int)sizeof(T);
};

template <class V, class T>
inline V loadu(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V, class T>
inline void storeu(T* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}
template <class V, class T>
inline V splat(T s) {
  return V{} + s;
}
template <class V, int N>
inline typename std::remove_reference<decltype(V{}[0])>::type hsum(V v) {
  auto s = v[0];
  for (int i = 1; i < N; ++i) s += v[i];
  return s;
}

// ---- in-register VL x VL transpose (block swaps of size S = VL/2, ..., 1) ----
template <class V, int VL, int S, size_t... I>
inline V shuf_lo(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, ((I & S) == 0 ? (int)I : (int)(VL + I - S))...);
}
template <class V, int VL, int S, size_t... I>
inline V shuf_hi(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, ((I & S) == 0 ? (int)(I + S) : (int)(VL + I))...);
}
template <class V, int VL, int S>
struct Transpose {
  static inline void run(V* r) {
    for (int i = 0; i < VL; ++i) {
      if (i & S) continue;
      V a = r[i], b = r[i + S];
      r[i] = shuf_lo<V, VL, S>(a, b, std::make_index_sequence<VL>{});
      r[i + S] = shuf_hi<V, VL, S>(a, b, std::make_index_sequence<VL>{});
    }
    Transpose<V, VL, S / 2>::run(r);
  }
};
template <class V, int VL>
struct Transpose<V, VL, 0> {
  static inline void run(V*) {}
};
template <class V, size_t... I>
inline V reverse_impl(V a, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, a, (int)(sizeof...(I) - 1 - I)...);
}
template <class V, int VL>
inline V reverse(V a) {
  return reverse_impl<V>(a, std::make_index_sequence<VL>{});
}

inline i64 round_up(i64 a, i64 b) { return (a + b - 1) / b * b; }

template <class T>
T* aligned_buffer(std::vector<T>& storage, i64 n) {
  storage.assign(n + 64 / sizeof(T), T(0));
  uintptr_t p = reinterpret_cast<uintptr_t>(storage.data());
  p = (p + 63) & ~uintptr_t(63);
  return reinterpret_cast<T*>(p);
}

}  // namespace

extern "C" {

// One call's description; the Python side (ops.py) fills it with ctypes.
struct SSArgs {
  const void* x;     // analysis input, (R, *grid) contiguous real
  void* out;         // analysis: (Q, R, 2) interleaved complex; synthesis: y (R, *grid)
  const void* spec;  // synthesis input (Q, R, 2) interleaved complex
  const void* bias;  // synthesis: (n_bias,) or null; field r gets bias[r % n_bias]
  i64 n_fields;      // R
  i64 n_bias;
  i64 ndim;          // d in 1..3
  i64 grid[3];       // the grid this call reads (analysis) or writes (synthesis)
  i64 n_modes;       // Q used: synthesis reads only the first Q modes of the last level
  // last axis: U distinct frequencies, fold length L = N/2 + 1
  i64 n_last;                // U
  const void* last_bcast_cos;  // analysis tables [L][U]
  const void* last_bcast_sin;
  const void* last_rows_cos;   // synthesis tables [U][Lp], Lp = round_up(L, VL), zero padded
  const void* last_rows_sin;
  i64 last_rows_stride;      // Lp
  // earlier axes, in analysis order (axis d-2, then d-3): level s+1 = contraction of level s
  i64 n_stage;
  i64 stage_out[2];          // entries of the next level (P_{s+1}); the last level is the modes
  const i64* stage_parent[2];  // per entry: index into the previous level
  const i64* stage_freq[2];    // per entry: row of the axis tables
  const void* stage_cos[2];    // [F][Np] zero padded, Np = stage_stride
  const void* stage_sin[2];
  i64 stage_stride[2];
  i64 n_threads;
};

int ss_vector_bytes() { return SS_VBYTES; }
int ss_has_openmp() {
#ifdef _OPENMP
  return 1;
#else
  return 0;
#endif
}

}  // extern "C"

namespace {

// ---------------------------------------------------------------- analysis: last axis
// A block of VL rows (length N each) -> planes re/im [U] of VL lanes each, written with
// stride `ostride` between frequencies. Rows past `valid` are zero.
template <class T>
struct LastAxisAnalysis {
  typedef typename Vec<T>::type V;
  static constexpr int VL = Vec<T>::n;

  template <int G>
  static inline void group(const V* et, const V* ot, i64 L, const T* C, const T* S, i64 U, i64 j0, V* re, V* im) {
    V ar[G], ai[G];
    for (int g = 0; g < G; ++g) ar[g] = ai[g] = V{};
    for (i64 n = 0; n < L; ++n) {
      V e = et[n], o = ot[n];
      const T* c = C + n * U + j0;
      const T* s = S + n * U + j0;
      for (int g = 0; g < G; ++g) {
        ar[g] += e * c[g];
        ai[g] += o * s[g];
      }
    }
    for (int g = 0; g < G; ++g) {
      re[g] = ar[g];
      im[g] = -ai[g];
    }
  }

  // xt: scratch [N] vectors; et, ot: scratch [L] vectors
  // Row l of the block starts at x + l * rs.
  static void block(const T* x, i64 N, i64 rs, int valid, const T* C, const T* S, i64 U, V* xt, V* et, V* ot, V* re,
                    V* im) {
    // transpose the VL rows into xt[n] (lane l = row l)
    i64 n = 0;
    if (valid == VL) {
      for (; n + VL <= N; n += VL) {
        V r[VL];
        for (int l = 0; l < VL; ++l) {
          __builtin_prefetch(x + (VL + l) * rs + n);  // the next block of rows, one block ahead
          r[l] = loadu<V>(x + l * rs + n);
        }
        Transpose<V, VL, VL / 2>::run(r);
        for (int t = 0; t < VL; ++t) xt[n + t] = r[t];
      }
    }
    if (valid == VL && n < N && N >= VL) {  // the remainder as one block ending at N - 1 (overlap: equal values)
      n = N - VL;
      V r[VL];
      for (int l = 0; l < VL; ++l) r[l] = loadu<V>(x + l * rs + n);
      Transpose<V, VL, VL / 2>::run(r);
      for (int t = 0; t < VL; ++t) xt[n + t] = r[t];
      n = N;
    }
    for (; n < N; ++n) {
      V v = V{};
      for (int l = 0; l < valid; ++l) v[l] = x[l * rs + n];
      xt[n] = v;
    }
    // fold n <-> N - n
    const i64 L = N / 2 + 1;
    et[0] = xt[0];
    ot[0] = V{};
    for (i64 m = 1; m < L; ++m) {
      if (2 * m == N) {
        et[m] = xt[m];
        ot[m] = V{};
      } else {
        V a = xt[m], b = xt[N - m];
        et[m] = a + b;
        ot[m] = a - b;
      }
    }
    i64 j = 0;
    for (; j + 6 <= U; j += 6) group<6>(et, ot, L, C, S, U, j, re + j, im + j);
    switch (U - j) {
      case 5: group<5>(et, ot, L, C, S, U, j, re + j, im + j); break;
      case 4: group<4>(et, ot, L, C, S, U, j, re + j, im + j); break;
      case 3: group<3>(et, ot, L, C, S, U, j, re + j, im + j); break;
      case 2: group<2>(et, ot, L, C, S, U, j, re + j, im + j); break;
      case 1: group<1>(et, ot, L, C, S, U, j, re + j, im + j); break;
      default: break;
    }
  }
};

// ---------------------------------------------------------------- contraction (analysis)
// out[q][o] = sum_i in[parent q][o * istride + i] * (cos - i sin)[freq q][i], i < np (exactly np values read)
template <class T>
void contract(const T* in_re, const T* in_im, i64 in_plane, i64 outer, i64 istride, i64 np, const T* cs, const T* sn,
              i64 tstride, const i64* parent, const i64* freq, i64 n_out, T* out_re, T* out_im, i64 out_plane) {
  typedef typename Vec<T>::type V;
  constexpr int VL = Vec<T>::n;
  for (i64 q = 0; q < n_out; ++q) {
    const T* ar0 = in_re + parent[q] * in_plane;
    const T* ai0 = in_im + parent[q] * in_plane;
    const T* c = cs + freq[q] * tstride;
    const T* s = sn + freq[q] * tstride;
    for (i64 o = 0; o < outer; ++o) {
      const T* ar = ar0 + o * istride;
      const T* ai = ai0 + o * istride;
      V rr = V{}, ii = V{}, ri = V{}, ir = V{};
      i64 i = 0;
      for (; i + VL <= np; i += VL) {
        V a = loadu<V>(ar + i), b = loadu<V>(ai + i);
        V cv = loadu<V>(c + i), sv = loadu<V>(s + i);
        rr += a * cv;
        ii += b * sv;
        ri += a * sv;
        ir += b * cv;
      }
      T tr = T(0), ti = T(0);
      for (; i < np; ++i) {  // the remainder: never read past the np values (a neighbour's data)
        tr += ar[i] * c[i] + ai[i] * s[i];
        ti += ai[i] * c[i] - ar[i] * s[i];
      }
      // (a + ib)(c - is) = (ac + bs) + i(bc - as)
      out_re[q * out_plane + o] = hsum<V, VL>(rr + ii) + tr;
      out_im[q * out_plane + o] = hsum<V, VL>(ir - ri) + ti;
    }
  }
}

// ---------------------------------------------------------------- expansion (synthesis)
// out[parent q][o * ostride + i] += in[q][o] * (cos + i sin)[freq q][i], i < np (exactly np values written)
template <class T>
void expand(const T* in_re, const T* in_im, i64 in_plane, i64 in_step, i64 outer, const T* cs, const T* sn,
            i64 tstride, i64 np, const i64* parent, const i64* freq, i64 n_in, T* out_re, T* out_im, i64 out_plane,
            i64 ostride) {
  typedef typename Vec<T>::type V;
  constexpr int VL = Vec<T>::n;
  for (i64 q = 0; q < n_in; ++q) {
    const T* c = cs + freq[q] * tstride;
    const T* s = sn + freq[q] * tstride;
    T* zr0 = out_re + parent[q] * out_plane;
    T* zi0 = out_im + parent[q] * out_plane;
    for (i64 o = 0; o < outer; ++o) {
      const T yr = in_re[q * in_plane + o * in_step], yi = in_im[q * in_plane + o * in_step];
      if (yr == T(0) && yi == T(0)) continue;
      T* zr = zr0 + o * ostride;
      T* zi = zi0 + o * ostride;
      i64 i = 0;
      for (; i + VL <= np; i += VL) {
        V cv = loadu<V>(c + i), sv = loadu<V>(s + i);
        // (yr + i yi)(c + i s) = (yr c - yi s) + i(yr s + yi c)
        storeu(zr + i, loadu<V>(zr + i) + cv * yr - sv * yi);
        storeu(zi + i, loadu<V>(zi + i) + sv * yr + cv * yi);
      }
      for (; i < np; ++i) {  // never write past the np values (a neighbour's plane)
        zr[i] += c[i] * yr - s[i] * yi;
        zi[i] += s[i] * yr + c[i] * yi;
      }
    }
  }
}

// ---------------------------------------------------------------- field-lane contraction / expansion
// The 2-D/3-D kernels hold VL fields in the lanes of a vector: plane entries are vectors, so the
// earlier-axis passes are broadcast-table FMAs with no horizontal sums.
// out[q][o] = sum_{i < np} in[parent q][o * istride + i] * (cos - i sin)[freq q][i]   (units: vectors)
template <class T>
void contract_lanes(const typename Vec<T>::type* in_re, const typename Vec<T>::type* in_im, i64 in_plane, i64 outer,
                    i64 istride, i64 np, const T* cs, const T* sn, i64 tstride, const i64* parent, const i64* freq,
                    i64 n_out, typename Vec<T>::type* out_re, typename Vec<T>::type* out_im, i64 out_plane) {
  typedef typename Vec<T>::type V;
  i64 q = 0;
  for (; q + 2 <= n_out; q += 2) {  // two modes at a time: four independent accumulator chains
    const T* c0 = cs + freq[q] * tstride;
    const T* s0 = sn + freq[q] * tstride;
    const T* c1 = cs + freq[q + 1] * tstride;
    const T* s1 = sn + freq[q + 1] * tstride;
    for (i64 o = 0; o < outer; ++o) {
      const V* ar0 = in_re + parent[q] * in_plane + o * istride;
      const V* ai0 = in_im + parent[q] * in_plane + o * istride;
      const V* ar1 = in_re + parent[q + 1] * in_plane + o * istride;
      const V* ai1 = in_im + parent[q + 1] * in_plane + o * istride;
      V r0 = V{}, m0 = V{}, r1 = V{}, m1 = V{};
      for (i64 i = 0; i < np; ++i) {
        const V a0 = ar0[i], b0 = ai0[i], a1 = ar1[i], b1 = ai1[i];
        // (a + ib)(c - is) = (ac + bs) + i(bc - as)
        r0 += a0 * c0[i] + b0 * s0[i];
        m0 += b0 * c0[i] - a0 * s0[i];
        r1 += a1 * c1[i] + b1 * s1[i];
        m1 += b1 * c1[i] - a1 * s1[i];
      }
      out_re[q * out_plane + o] = r0;
      out_im[q * out_plane + o] = m0;
      out_re[(q + 1) * out_plane + o] = r1;
      out_im[(q + 1) * out_plane + o] = m1;
    }
  }
  for (; q < n_out; ++q) {
    const T* c = cs + freq[q] * tstride;
    const T* s = sn + freq[q] * tstride;
    for (i64 o = 0; o < outer; ++o) {
      const V* ar = in_re + parent[q] * in_plane + o * istride;
      const V* ai = in_im + parent[q] * in_plane + o * istride;
      V r = V{}, m = V{};
      for (i64 i = 0; i < np; ++i) {
        r += ar[i] * c[i] + ai[i] * s[i];
        m += ai[i] * c[i] - ar[i] * s[i];
      }
      out_re[q * out_plane + o] = r;
      out_im[q * out_plane + o] = m;
    }
  }
}

// out[parent q][o * ostride + i] += in[q][o] * (cos + i sin)[freq q][i], i < np   (units: vectors)
template <class T>
void expand_lanes(const typename Vec<T>::type* in_re, const typename Vec<T>::type* in_im, i64 in_plane, i64 outer,
                  const T* cs, const T* sn, i64 tstride, i64 np, const i64* parent, const i64* freq, i64 n_in,
                  typename Vec<T>::type* out_re, typename Vec<T>::type* out_im, i64 out_plane, i64 ostride) {
  typedef typename Vec<T>::type V;
  for (i64 q = 0; q < n_in; ++q) {
    const T* c = cs + freq[q] * tstride;
    const T* s = sn + freq[q] * tstride;
    for (i64 o = 0; o < outer; ++o) {
      const V yr = in_re[q * in_plane + o], yi = in_im[q * in_plane + o];
      V* zr = out_re + parent[q] * out_plane + o * ostride;
      V* zi = out_im + parent[q] * out_plane + o * ostride;
      for (i64 i = 0; i < np; ++i) {
        // (yr + i yi)(c + i s) = (yr c - yi s) + i(yr s + yi c)
        zr[i] += yr * c[i] - yi * s[i];
        zi[i] += yr * s[i] + yi * c[i];
      }
    }
  }
}

// ---------------------------------------------------------------- synthesis: last axis
// Two rows at once: E[m] = sum_j zr_j C[j][m], O[m] = sum_j zi_j S[j][m] over m < Lp, then
// y[m] = b + E - O (m <= M/2), y[M - m] = b + E + O (0 < m < M - M/2).
template <class T>
struct LastAxisSynthesis {
  typedef typename Vec<T>::type V;
  static constexpr int VL = Vec<T>::n;

  // zr(j, row), zi(j, row) at zre[j * zstride + row * zstep]; buf: scratch of 2 * 2 * (Lp + 2 VL)
  static void rows(const T* zre, const T* zim, i64 zstride, i64 zstep, int nrows, const T* C, const T* S, i64 Lp,
                   i64 U, i64 M, const T* bias, T* const* yrow, T* buf) {
    spectra(zre, zim, zstride, zstep, nrows, C, S, Lp, U, buf);
    fold(nrows, Lp, M, bias, yrow, buf);
  }

  // E and O of up to two rows into buf. Callers that fold a buffer right after filling it stall on
  // store-to-load forwarding (the fold reads it at other offsets); the 2-D path alternates two buffers.
  static void spectra(const T* zre, const T* zim, i64 zstride, i64 zstep, int nrows, const T* C, const T* S, i64 Lp,
                      i64 U, T* buf) {
    const i64 bs = Lp + 2 * VL;
    T* E[2] = {buf + VL, buf + bs + VL};
    T* O[2] = {buf + 2 * bs + VL, buf + 3 * bs + VL};
    for (i64 m = 0; m < Lp; m += 2 * VL) {
      const bool two = m + VL < Lp;
      V e00 = V{}, e01 = V{}, o00 = V{}, o01 = V{}, e10 = V{}, e11 = V{}, o10 = V{}, o11 = V{};
      for (i64 j = 0; j < U; ++j) {
        const T* c = C + j * Lp + m;
        const T* s = S + j * Lp + m;
        V c0 = loadu<V>(c), s0 = loadu<V>(s);
        V c1 = two ? loadu<V>(c + VL) : V{};
        V s1 = two ? loadu<V>(s + VL) : V{};
        const T r0 = zre[j * zstride], i0 = zim[j * zstride];
        e00 += c0 * r0;
        e01 += c1 * r0;
        o00 += s0 * i0;
        o01 += s1 * i0;
        if (nrows > 1) {
          const T r1 = zre[j * zstride + zstep], i1 = zim[j * zstride + zstep];
          e10 += c0 * r1;
          e11 += c1 * r1;
          o10 += s0 * i1;
          o11 += s1 * i1;
        }
      }
      storeu(E[0] + m, e00);
      storeu(O[0] + m, o00);
      storeu(E[1] + m, e10);
      storeu(O[1] + m, o10);
      if (two) {
        storeu(E[0] + m + VL, e01);
        storeu(O[0] + m + VL, o01);
        storeu(E[1] + m + VL, e11);
        storeu(O[1] + m + VL, o11);
      }
    }
  }

  // y rows from the E and O that spectra() left in buf, plus the bias
  static void fold(int nrows, i64 Lp, i64 M, const T* bias, T* const* yrow, const T* buf) {
    const i64 bs = Lp + 2 * VL;
    const T* E[2] = {buf + VL, buf + bs + VL};
    const T* O[2] = {buf + 2 * bs + VL, buf + 3 * bs + VL};
    const i64 h = M / 2;  // forward part: m = 0..h
    for (int r = 0; r < nrows; ++r) {
      T* y = yrow[r];
      const T b = bias ? bias[r] : T(0);
      const T* e = E[r];
      const T* o = O[r];
      i64 m = 0;
      for (; m + VL <= h + 1; m += VL) storeu(y + m, loadu<V>(e + m) - loadu<V>(o + m) + b);
      if (m <= h && h + 1 >= VL) {  // the remainder as one vector ending at h (overlap rewrites equal values)
        m = h + 1 - VL;
        storeu(y + m, loadu<V>(e + m) - loadu<V>(o + m) + b);
      } else {
        for (; m <= h; ++m) y[m] = e[m] - o[m] + b;
      }
      // mirror: t = h+1 .. M-1 takes m = M - t
      i64 t = h + 1;
      for (; t + VL <= M; t += VL) {
        const i64 lo = M - t - VL + 1;  // >= 1 - VL + ... ; E and O have VL of zeroed slack before index 0
        V v = loadu<V>(e + lo) + loadu<V>(o + lo);
        storeu(y + t, reverse<V, VL>(v) + b);
      }
      if (t < M && M - (h + 1) >= VL) {  // the remainder as one vector ending at M - 1
        t = M - VL;
        V v = loadu<V>(e + 1) + loadu<V>(o + 1);
        storeu(y + t, reverse<V, VL>(v) + b);
      } else {
        for (; t < M; ++t) y[t] = e[M - t] + o[M - t] + b;
      }
    }
  }
};

// ---------------------------------------------------------------- synthesis: last axis, VL rows at once
// The mirror of LastAxisAnalysis::block: row r of VL fields (the lanes of z), evaluated for every
// m < L as vectors over the fields, folded to y[m] and y[M - m], transposed back in VL x VL blocks
// and stored as VL field rows (row l at y0 + l * ys). Tables [L][U] (C, S), lanes past `valid` unused.
template <class T>
struct LastAxisSynthesisBlock {
  typedef typename Vec<T>::type V;
  static constexpr int VL = Vec<T>::n;

  static void block(const V* zr, const V* zi, i64 zstride, const T* C, const T* S, i64 U, i64 M, V bias, T* y0,
                    i64 ys, int valid, V* yt) {
    const i64 L = M / 2 + 1;
    const i64 h = M / 2;
    i64 m = 0;
    for (; m + 2 <= L; m += 2) {
      V e0 = V{}, o0 = V{}, e1 = V{}, o1 = V{};
      const T* c0 = C + m * U;
      const T* s0 = S + m * U;
      for (i64 u = 0; u < U; ++u) {
        const V a = zr[u * zstride], b = zi[u * zstride];
        e0 += a * c0[u];
        o0 += b * s0[u];
        e1 += a * c0[U + u];
        o1 += b * s0[U + u];
      }
      emit(m, e0, o0, h, M, bias, yt);
      emit(m + 1, e1, o1, h, M, bias, yt);
    }
    for (; m < L; ++m) {
      V e = V{}, o = V{};
      for (i64 u = 0; u < U; ++u) {
        e += zr[u * zstride] * C[m * U + u];
        o += zi[u * zstride] * S[m * U + u];
      }
      emit(m, e, o, h, M, bias, yt);
    }
    i64 n = 0;
    if (valid == VL) {
      for (; n + VL <= M; n += VL) store_block(yt + n, y0 + n, ys);
      if (n < M && M >= VL) {  // the remainder as one block ending at M - 1 (overlap: equal values)
        store_block(yt + M - VL, y0 + M - VL, ys);
        n = M;
      }
    }
    if (n < M || valid < VL) {
      for (n = valid == VL ? n : 0; n < M; ++n)
        for (int l = 0; l < valid; ++l) y0[l * ys + n] = yt[n][l];
    }
  }

  static inline void emit(i64 m, V e, V o, i64 h, i64 M, V bias, V* yt) {
    if (m <= h) yt[m] = e - o + bias;     // forward part
    if (m >= 1 && M - m > h) yt[M - m] = e + o + bias;  // mirror
  }

  static inline void store_block(const V* src, T* dst, i64 ys) {
    V r[VL];
    for (int t = 0; t < VL; ++t) r[t] = src[t];
    Transpose<V, VL, VL / 2>::run(r);
    for (int l = 0; l < VL; ++l) storeu(dst + l * ys, r[l]);
  }
};

template <class T>
struct Kernels {
  typedef typename Vec<T>::type V;
  static constexpr int VL = Vec<T>::n;

  static int threads(const SSArgs& a) { return a.n_threads > 0 ? (int)a.n_threads : 1; }

  static void analysis(const SSArgs& a) {
    const T* x = static_cast<const T*>(a.x);
    T* out = static_cast<T*>(a.out);
    const i64 d = a.ndim, R = a.n_fields, U = a.n_last;
    const i64 N = a.grid[d - 1];
    const i64 L = N / 2 + 1;
    const T* C = static_cast<const T*>(a.last_bcast_cos);
    const T* S = static_cast<const T*>(a.last_bcast_sin);
    const i64 rows = d == 1 ? 1 : (d == 2 ? a.grid[0] : a.grid[0] * a.grid[1]);
    const i64 Q = d == 1 ? U : a.stage_out[a.n_stage - 1];
    if (d == 1) {
      const i64 blocks = (R + VL - 1) / VL;
#pragma omp parallel num_threads(threads(a))
      {
        std::vector<V> sx(N), se(L), so(L);
        std::vector<V> re(U), im(U);
#pragma omp for schedule(dynamic, 1)
        for (i64 bk = 0; bk < blocks; ++bk) {
          const i64 r0 = bk * VL;
          const int valid = (int)(R - r0 < VL ? R - r0 : VL);
          LastAxisAnalysis<T>::block(x + r0 * N, N, N, valid, C, S, U, sx.data(), se.data(), so.data(), re.data(),
                                     im.data());
          for (i64 j = 0; j < U; ++j)
            for (int l = 0; l < valid; ++l) {
              out[(j * R + r0 + l) * 2] = re[j][l];
              out[(j * R + r0 + l) * 2 + 1] = im[j][l];
            }
        }
      }
      return;
    }
    // VL fields at a time, one per vector lane: the last-axis pass reads row r of each (block
    // rows VL apart by a field), and every later pass works on vectors of VL fields.
    const i64 groups = (R + VL - 1) / VL;
    const i64 rs = rows * N;  // field stride of x
    const i64 pl = rows + 1;  // plane stride in vectors (+1: planes 4 KiB apart would alias in the L1 cache)
#pragma omp parallel num_threads(threads(a))
    {
      std::vector<V> sx(N), se(L), so(L), re(U), im(U);
      std::vector<V> s0(2 * U * pl), s1, s2(2 * Q);
      V* t0 = s0.data();  // [re|im][U][rows]
      V* t1 = nullptr;
      i64 p1 = 0;
      if (d == 3) {
        p1 = a.stage_out[0];
        s1.assign(2 * p1 * a.grid[0], V{});
        t1 = s1.data();  // [re|im][P1][grid[0]]
      }
      V* xq = s2.data();  // [re|im][Q]
#pragma omp for schedule(dynamic, 1)
      for (i64 gi = 0; gi < groups; ++gi) {
        const i64 f0 = gi * VL;
        const int ng = (int)(R - f0 < VL ? R - f0 : VL);
        const T* xf = x + f0 * rs;
        for (i64 r = 0; r < rows; ++r) {
          LastAxisAnalysis<T>::block(xf + r * N, N, rs, ng, C, S, U, sx.data(), se.data(), so.data(), re.data(),
                                     im.data());
          for (i64 j = 0; j < U; ++j) {
            t0[j * pl + r] = re[j];
            t0[(U + j) * pl + r] = im[j];
          }
        }
        if (d == 2) {
          contract_lanes<T>(t0, t0 + U * pl, pl, 1, 0, rows, static_cast<const T*>(a.stage_cos[0]),
                            static_cast<const T*>(a.stage_sin[0]), a.stage_stride[0], a.stage_parent[0],
                            a.stage_freq[0], Q, xq, xq + Q, 1);
        } else {
          const i64 n0 = a.grid[0], n1 = a.grid[1];
          // axis 1 for every row m0 of axis 0: t1[suffix][m0]
          contract_lanes<T>(t0, t0 + U * pl, pl, n0, n1, n1, static_cast<const T*>(a.stage_cos[0]),
                            static_cast<const T*>(a.stage_sin[0]), a.stage_stride[0], a.stage_parent[0],
                            a.stage_freq[0], p1, t1, t1 + p1 * n0, n0);
          contract_lanes<T>(t1, t1 + p1 * n0, n0, 1, 0, n0, static_cast<const T*>(a.stage_cos[1]),
                            static_cast<const T*>(a.stage_sin[1]), a.stage_stride[1], a.stage_parent[1],
                            a.stage_freq[1], Q, xq, xq + Q, 1);
        }
        for (i64 q = 0; q < Q; ++q) {
          T* o = out + (q * R + f0) * 2;
          const V vr = xq[q], vi = xq[Q + q];
          for (int l = 0; l < ng; ++l) {
            o[2 * l] = vr[l];
            o[2 * l + 1] = vi[l];
          }
        }
      }
    }
  }

  static void synthesis(const SSArgs& a) {
    const T* spec = static_cast<const T*>(a.spec);
    T* y = static_cast<T*>(a.out);
    const T* bias = static_cast<const T*>(a.bias);
    const i64 d = a.ndim, R = a.n_fields, U = a.n_last;
    const i64 M = a.grid[d - 1];
    const i64 Lp = a.last_rows_stride;
    const T* C = static_cast<const T*>(a.last_rows_cos);
    const T* S = static_cast<const T*>(a.last_rows_sin);
    const T* CB = static_cast<const T*>(a.last_bcast_cos);  // [L][U]
    const T* SB = static_cast<const T*>(a.last_bcast_sin);
    const i64 rows = d == 1 ? 1 : (d == 2 ? a.grid[0] : a.grid[0] * a.grid[1]);
    const i64 Q = a.n_modes;
    if (d == 1) {
      const i64 pairs = (R + 1) / 2;
#pragma omp parallel num_threads(threads(a))
      {
        std::vector<T> sb;
        T* buf = aligned_buffer(sb, 4 * (Lp + 2 * VL));
#pragma omp for schedule(dynamic, 1)
        for (i64 p = 0; p < pairs; ++p) {
          const i64 r = 2 * p;
          const int nr = r + 1 < R ? 2 : 1;
          T* yr[2] = {y + r * M, y + (r + nr - 1) * M};
          T bb[2] = {bias ? bias[r % a.n_bias] : T(0), bias ? bias[(r + nr - 1) % a.n_bias] : T(0)};
          LastAxisSynthesis<T>::rows(spec + r * 2, spec + r * 2 + 1, 2 * R, 2, nr, C, S, Lp, U, M,
                                     bias ? bb : nullptr, yr, buf);
        }
      }
      return;
    }
    const i64 groups = (R + VL - 1) / VL;
    const i64 pl = rows + 1;  // plane stride in vectors (see analysis)
#pragma omp parallel num_threads(threads(a))
    {
      std::vector<V> s0(2 * U * pl), s1, s2(2 * Q);
      V* z0 = s0.data();  // [re|im][U][rows], lane l = field f0 + l
      V* z1 = nullptr;
      i64 p1 = 0;
      if (d == 3) {
        p1 = a.stage_out[0];
        s1.assign(2 * p1 * a.grid[0], V{});
        z1 = s1.data();
      }
      V* yq = s2.data();  // [re|im][Q]
      std::vector<V> yt(M + VL);
#pragma omp for schedule(dynamic, 1)
      for (i64 gi = 0; gi < groups; ++gi) {
        const i64 f0 = gi * VL;
        const int ng = (int)(R - f0 < VL ? R - f0 : VL);
        for (i64 q = 0; q < Q; ++q) {
          const T* sp = spec + (q * R + f0) * 2;
          V vr = V{}, vi = V{};
          for (int l = 0; l < ng; ++l) {
            vr[l] = sp[2 * l];
            vi[l] = sp[2 * l + 1];
          }
          yq[q] = vr;
          yq[Q + q] = vi;
        }
        std::fill(s0.begin(), s0.end(), V{});
        if (d == 2) {
          expand_lanes<T>(yq, yq + Q, 1, 1, static_cast<const T*>(a.stage_cos[0]),
                          static_cast<const T*>(a.stage_sin[0]), a.stage_stride[0], rows, a.stage_parent[0],
                          a.stage_freq[0], Q, z0, z0 + U * pl, pl, 0);
        } else {
          const i64 n0 = a.grid[0], n1 = a.grid[1];
          std::fill(s1.begin(), s1.end(), V{});
          // modes -> suffixes (k1, k2) along axis 0
          expand_lanes<T>(yq, yq + Q, 1, 1, static_cast<const T*>(a.stage_cos[1]),
                          static_cast<const T*>(a.stage_sin[1]), a.stage_stride[1], n0, a.stage_parent[1],
                          a.stage_freq[1], Q, z1, z1 + p1 * n0, n0, 0);
          // suffixes -> last-axis frequencies along axis 1, for every m0
          expand_lanes<T>(z1, z1 + p1 * n0, n0, n0, static_cast<const T*>(a.stage_cos[0]),
                          static_cast<const T*>(a.stage_sin[0]), a.stage_stride[0], n1, a.stage_parent[0],
                          a.stage_freq[0], p1, z0, z0 + U * pl, pl, n1);
        }
        // last axis: row r of all VL fields (the lanes) at once
        V bv = V{};
        if (bias)
          for (int l = 0; l < ng; ++l) bv[l] = bias[(f0 + l) % a.n_bias];
        for (i64 r = 0; r < rows; ++r)
          LastAxisSynthesisBlock<T>::block(z0 + r, z0 + U * pl + r, pl, CB, SB, U, M, bv, y + (f0 * rows + r) * M,
                                           rows * M, ng, yt.data());
      }
    }
  }
};

}  // namespace

extern "C" {
int ss_analysis_f32(const SSArgs* a) {
  Kernels<float>::analysis(*a);
  return 0;
}
int ss_analysis_f64(const SSArgs* a) {
  Kernels<double>::analysis(*a);
  return 0;
}
int ss_synthesis_f32(const SSArgs* a) {
  Kernels<float>::synthesis(*a);
  return 0;
}
int ss_synthesis_f64(const SSArgs* a) {
  Kernels<double>::synthesis(*a);
  return 0;
}
}
