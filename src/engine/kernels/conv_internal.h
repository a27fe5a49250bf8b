/* Internal: ISA-specific depthwise row kernels, dispatched by conv.c. */
#ifndef EML_ENGINE_KERNELS_CONV_INTERNAL_H
#define EML_ENGINE_KERNELS_CONV_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct eml_dw_geom {
	size_t ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
} eml_dw_geom;

/* Output row `oh` of one depthwise plane: y[ow] = bias + sum over taps of w * x (zero padding). */
typedef void (*eml_dw_row_fn)(const eml_dw_geom *g, const float *x, const float *w, float bias,
                              size_t oh, float *y);
void eml_dw_row_avx512(const eml_dw_geom *g, const float *x, const float *w, float bias, size_t oh,
                       float *y);
void eml_dw_row_avx2(const eml_dw_geom *g, const float *x, const float *w, float bias, size_t oh,
                     float *y);

/* A whole zero-padded plane (ph = pw = 0 and every tap of every 16-lane block, including the
 * lanes past ow, inside x: see dw_pad_geom), stride 1 or 2: y = bias + taps. */
/* im2col by gathers from a zero-padded input into SGEMM's packed-B panels (nr 16 or 32). */
void eml_im2col_gather_avx512(const float *x, const int32_t *rowoff, size_t rows,
                              const int32_t *colidx, size_t cn, float *panels, size_t nr,
                              size_t ps);

#define DW_PLANE_MAX_TAPS 64
typedef void (*eml_dw_plane_fn)(const eml_dw_geom *g, const float *x, const float *w, float bias,
                                float *y);
void eml_dw_plane_avx512(const eml_dw_geom *g, const float *x, const float *w, float bias,
                         float *y);

#endif
