/* IDX image files (LeCun's MNIST format, also Fashion-MNIST), gzip-compressed or not: an
 * images-idx3-ubyte file (magic 00 00 08 03, big-endian u32 count, rows, cols, then bytes) and
 * its labels-idx1-ubyte file (00 00 08 01, count, bytes), found by replacing "images-idx3" by
 * "labels-idx1" in the name. Pixels become floats: x / 255 normalized with mean 0.5, std 0.5
 * (ViTImageProcessor's defaults), one channel, no resizing (the model's config decides). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data_internal.h"

#define IDX_MAX_BYTES ((size_t)1 << 32) /* far above any IDX set; refuses absurd inputs */

static wf_status read_all(const char *path, unsigned char **out, size_t *n) {
    *out = NULL, *n = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) return wf_error(WF_ERR_IO, "%s: cannot open", path);
    size_t cap = 1 << 20;
    unsigned char *buf = malloc(cap);
    wf_status st = buf ? WF_OK : wf_error(WF_ERR_OOM, "%s: out of memory", path);
    for (int got = 1; st == WF_OK && got > 0;) {
        if (*n == cap) {
            unsigned char *q = cap < IDX_MAX_BYTES ? realloc(buf, cap * 2) : NULL;
            if (!q) {
                st = wf_error(WF_ERR_FORMAT, "%s: too large for an IDX file", path);
                break;
            }
            buf = q, cap *= 2;
        }
        size_t want = cap - *n < (1u << 30) ? cap - *n : (1u << 30);
        got = gzread(f, buf + *n, (unsigned)want);
        if (got < 0)
            st = wf_error(WF_ERR_IO, "%s: read failed (corrupt gzip data?)", path);
        else
            *n += (size_t)got;
    }
    gzclose(f);
    if (st != WF_OK)
        free(buf);
    else
        *out = buf;
    return st;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the magic and the size; dims[0..nd) from the header. */
static wf_status header(const char *path, const unsigned char *b, size_t n, int nd,
                        uint32_t *dims) {
    if (n < 4 || b[0] || b[1] || b[2] != 0x08 || b[3] != nd)
        return wf_error(WF_ERR_FORMAT,
                        "%s: not an IDX file of unsigned bytes with %d dimension%s "
                        "(magic 00 00 08 %02X)",
                        path, nd, nd > 1 ? "s" : "", nd);
    if (n < 4 + 4 * (size_t)nd) return wf_error(WF_ERR_FORMAT, "%s: truncated header", path);
    uint64_t total = 1;
    for (int i = 0; i < nd; i++) {
        dims[i] = be32(b + 4 + 4 * i);
        total *= dims[i];
        if (total > IDX_MAX_BYTES) return wf_error(WF_ERR_FORMAT, "%s: dimensions too large", path);
    }
    if (total != n - 4 - 4 * (size_t)nd)
        return wf_error(WF_ERR_FORMAT, "%s: header says %llu bytes of data, the file has %zu", path,
                        (unsigned long long)total, n - 4 - 4 * (size_t)nd);
    return WF_OK;
}

static wf_status labels_path(const char *images, char *out, size_t cap) {
    const char *base = strrchr(images, '/');
    base = base ? base + 1 : images;
    const char *at = strstr(base, "images-idx3");
    if (!at || strlen(images) >= cap)
        return wf_error(WF_ERR_INVALID,
                        "%s: an IDX images file is named *images-idx3*, its labels "
                        "*labels-idx1*",
                        images);
    strcpy(out, images);
    memcpy(out + (at - images), "labels-idx1", 11);
    return WF_OK;
}

static wf_status fill(wf_dataset *d, const unsigned char *img, const unsigned char *lab, uint32_t n,
                      int64_t px, int64_t n_labels, const char *lpath) {
    float *pix = malloc((size_t)px * sizeof *pix);
    if (!pix) return wf_error(WF_ERR_OOM, "IDX: out of memory");
    wf_status st = WF_OK;
    for (uint32_t i = 0; st == WF_OK && i < n; i++) {
        if (n_labels > 0 && lab[i] >= n_labels) {
            st = wf_error(WF_ERR_FORMAT, "%s: label %u of image %u is outside [0, %lld)", lpath,
                          lab[i], i, (long long)n_labels);
            break;
        }
        for (int64_t k = 0; k < px; k++)
            pix[k] = ((float)img[(size_t)i * px + k] / 255.0f - 0.5f) / 0.5f;
        wf_example e = {.pixels = pix, .label = lab[i], .record = i};
        st = wf_dataset_add(d, &e);
    }
    free(pix);
    return st;
}

wf_status dt_idx_load(const char *images_path, int64_t n_labels, wf_dataset **out) {
    *out = NULL;
    char lpath[4096];
    WF_TRY(labels_path(images_path, lpath, sizeof lpath));
    unsigned char *img = NULL, *lab = NULL;
    size_t ni, nl;
    uint32_t di[3], dl[1];
    wf_status st = read_all(images_path, &img, &ni);
    if (st == WF_OK) st = read_all(lpath, &lab, &nl);
    if (st == WF_OK) st = header(images_path, img, ni, 3, di);
    if (st == WF_OK) st = header(lpath, lab, nl, 1, dl);
    if (st == WF_OK && di[0] != dl[0])
        st = wf_error(WF_ERR_FORMAT, "%s has %u images but %s has %u labels", images_path, di[0],
                      lpath, dl[0]);
    if (st == WF_OK && di[0] == 0) st = wf_error(WF_ERR_FORMAT, "%s: no images", images_path);
    if (st == WF_OK) st = wf_dataset_create(WF_HEAD_IMAGE_CLS, 0, out);
    if (st == WF_OK) st = wf_dataset_set_image(*out, 1, di[1], di[2]);
    if (st == WF_OK)
        st = fill(*out, img + 16, lab + 8, di[0], (int64_t)di[1] * di[2], n_labels, lpath);
    free(img), free(lab);
    if (st != WF_OK) wf_dataset_free(*out), *out = NULL;
    return st;
}

bool dt_idx_looks_like(const char *path) {
    gzFile f = gzopen(path, "rb");
    if (!f) return false;
    unsigned char m[4];
    bool yes = gzread(f, m, 4) == 4 && !m[0] && !m[1] && m[2] == 0x08 && m[3] == 3;
    gzclose(f);
    return yes;
}
