/* Fitting dataset images to a model's input, as a Hugging Face image processor would
 * (ViTImageProcessor: resize to size x size with bilinear resampling, rescale by 1/255,
 * normalize with image_mean / image_std; transformers image_processing_vit.py): the processor
 * settings come from preprocessor_config.json beside the model (ViT's defaults without one:
 * mean 0.5, std 0.5), a gray image is replicated over the model's channels, and resizing is
 * bilinear with half-pixel centres (torch interpolate align_corners=False; PIL's BILINEAR when
 * enlarging, without its uint8 rounding; shrinking uses the same taps, no antialias).
 * Datasets hold pixels normalized with mean 0.5, std 0.5 (idx.c); this maps them on.
 * Not here: reading images (idx.c), batching (loader.c). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"
#include "weft/json.h"

/* A per-channel list (or one number for all channels) of `key`. */
static wf_status per_channel(const char *path, const cJSON *root, const char *key, int64_t ch,
                             float *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return WF_OK;
    if (cJSON_IsNumber(v)) {
        for (int64_t c = 0; c < ch; c++) out[c] = (float)v->valuedouble;
        return WF_OK;
    }
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n != ch)
        return wf_error(WF_ERR_FORMAT, "%s: key '%s': expected a number or a list of %lld numbers "
                        "(one per model channel)", path, key, (long long)ch);
    for (int c = 0; c < n; c++) {
        const cJSON *e = cJSON_GetArrayItem(v, c);
        if (!cJSON_IsNumber(e))
            return wf_error(WF_ERR_FORMAT, "%s: key '%s[%d]': expected a number", path, key, c);
        out[c] = (float)e->valuedouble;
    }
    return WF_OK;
}

static wf_status read_processor(const char *path, wf_image_spec *s) {
    cJSON *root = NULL;
    WF_TRY(wf_json_load(path, &root));
    wf_json_ctx c = {path, ""};
    bool norm = true, rescale = true;
    double factor = 1.0 / 255.0;
    wf_status st = wf_json_bool(c, root, "do_normalize", false, true, &norm);
    if (st == WF_OK) st = wf_json_bool(c, root, "do_rescale", false, true, &rescale);
    if (st == WF_OK) st = wf_json_num(c, root, "rescale_factor", false, 1.0 / 255.0, &factor);
    if (st == WF_OK) st = per_channel(path, root, "image_mean", s->ch, s->mean);
    if (st == WF_OK) st = per_channel(path, root, "image_std", s->ch, s->std);
    for (int64_t k = 0; st == WF_OK && k < s->ch; k++) {
        if (!norm) s->mean[k] = 0, s->std[k] = 1;
        if (!(s->std[k] > 0))
            st = wf_error(WF_ERR_FORMAT, "%s: key 'image_std[%lld]': %g is not > 0", path,
                          (long long)k, s->std[k]);
    }
    s->scale = (float)(rescale ? factor * 255.0 : 255.0);
    cJSON_Delete(root);
    return st;
}

wf_status wf_image_spec_for_model(const char *model_dir, int64_t channels, int64_t size,
                                  wf_image_spec *out) {
    memset(out, 0, sizeof *out);
    if (channels < 1 || channels > WF_IMAGE_MAX_CH || size < 1)
        return wf_error(WF_ERR_INVALID, "%s: a model input of %lld channels of %lld x %lld pixels "
                        "is not supported (1 to %d channels)", model_dir, (long long)channels,
                        (long long)size, (long long)size, WF_IMAGE_MAX_CH);
    out->ch = channels, out->size = size, out->scale = 1.0f;
    for (int64_t c = 0; c < channels; c++) out->mean[c] = 0.5f, out->std[c] = 0.5f;
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/preprocessor_config.json", model_dir ? model_dir : ".");
    if (model_dir && stat(path, &st) == 0) {
        WF_TRY(read_processor(path, out));
        snprintf(out->source, sizeof out->source, "%s", path);
    }
    return WF_OK;
}

bool dt_image_identity(const wf_image_spec *s, int64_t ch, int64_t h, int64_t w) {
    if (s->ch != ch || s->size != h || s->size != w || s->scale != 1.0f) return false;
    for (int64_t c = 0; c < ch; c++)
        if (s->mean[c] != 0.5f || s->std[c] != 0.5f) return false;
    return true;
}

/* Bilinear taps of output index o over n inputs resized to m: i0, i1 and the weight of i1. */
static void taps(int64_t o, int64_t n, int64_t m, int64_t *i0, int64_t *i1, float *f) {
    double x = ((double)o + 0.5) * (double)n / (double)m - 0.5;
    if (x < 0) x = 0;
    *i0 = (int64_t)x;
    if (*i0 > n - 1) *i0 = n - 1;
    *i1 = *i0 + (*i0 < n - 1);
    *f = (float)(x - (double)*i0);
}

void dt_image_fit(const wf_image_spec *s, const float *src, int64_t ch, int64_t h, int64_t w,
                  float *dst) {
    int64_t S = s->size;
    for (int64_t c = 0; c < s->ch; c++) {
        const float *in = src + (ch == 1 ? 0 : c) * h * w;
        float *out = dst + c * S * S;
        for (int64_t y = 0; y < S; y++) {
            int64_t y0, y1, x0, x1;
            float fy, fx;
            taps(y, h, S, &y0, &y1, &fy);
            for (int64_t x = 0; x < S; x++) {
                taps(x, w, S, &x0, &x1, &fx);
                float top = in[y0 * w + x0] + fx * (in[y0 * w + x1] - in[y0 * w + x0]);
                float bot = in[y1 * w + x0] + fx * (in[y1 * w + x1] - in[y1 * w + x0]);
                float v = (top + fy * (bot - top)) * 0.5f + 0.5f; /* back to [0, 1] */
                out[y * S + x] = (v * s->scale - s->mean[c]) / s->std[c];
            }
        }
    }
}
