/* Batching (data.h wf_loader_*): rows of T tokens built once (one example per row, or LM
 * examples packed best-fit-decreasing: longest first, each into the fullest row it still fits,
 * as TRL's "bfd" packing), then per epoch a permutation of the rows from (seed, epoch), read by
 * every rank at its own offsets. Nothing is allocated per batch: the host arrays are sized at
 * creation. A batch is a pure function of (dataset, options, cursor), so resume is exact. */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "weft/hash.h"

#define IGNORE (-100)

struct wf_loader {
    const wf_dataset *d;
    wf_loader_opts o;
    bool lm, packed;
    int64_t n_rows;
    int64_t *row_off; /* (n_rows + 1) into items */
    int64_t *items;   /* (d->n) example indices, row by row */
    int64_t *perm;    /* (n_rows) this epoch's order */
    int64_t perm_epoch;
    int64_t batches; /* per epoch, this rank */
    wf_loader_cursor cur;
    int32_t *ids, *mask, *doc, *targets, *labels; /* (B, T) x 4, (B) */
    float *values, *pixels;                       /* (B), (B, ch, h, w) */
};

typedef struct len_idx {
    int64_t len, idx;
} len_idx;

static int by_len_desc(const void *x, const void *y) {
    const len_idx *a = x, *b = y;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Bins indexed by remaining space: head[r] is a stack of bins (next[] links), `used` a bitset
 * of non-empty r, so the best fit is the first set bit >= len. */
typedef struct bfd {
    int64_t T, n_bins;
    int64_t *head, *next, *rem;
    uint64_t *used;
} bfd;

static int64_t first_fit(const bfd *b, int64_t len) {
    for (int64_t w = len / 64; w <= b->T / 64; w++) {
        uint64_t m = b->used[w] & (w == len / 64 ? ~0ULL << (len % 64) : ~0ULL);
        if (m) return w * 64 + __builtin_ctzll(m);
    }
    return -1;
}

static void push(bfd *b, int64_t bin, int64_t r) {
    b->rem[bin] = r;
    b->next[bin] = b->head[r];
    b->head[r] = bin;
    b->used[r / 64] |= 1ULL << (r % 64);
}

static int64_t pop(bfd *b, int64_t r) {
    int64_t bin = b->head[r];
    b->head[r] = b->next[bin];
    if (b->head[r] < 0) b->used[r / 64] &= ~(1ULL << (r % 64));
    return bin;
}

/* Row r holds items[row_off[r] .. row_off[r+1]). */
static wf_status build_rows(wf_loader *l) {
    const wf_dataset *d = l->d;
    int64_t n = d->n, T = l->o.T;
    l->row_off = calloc((size_t)n + 1, sizeof *l->row_off);
    l->items = malloc((size_t)(n ? n : 1) * sizeof *l->items);
    if (!l->row_off || !l->items) return wf_error(WF_ERR_OOM, "loader: out of memory");
    if (!l->packed) {
        for (int64_t i = 0; i < n; i++) l->items[i] = i, l->row_off[i + 1] = i + 1;
        l->n_rows = n;
        return WF_OK;
    }
    len_idx *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    int64_t *bin_of = malloc((size_t)(n ? n : 1) * sizeof *bin_of);
    bfd b = {.T = T,
             .head = malloc((size_t)(T + 1) * sizeof *b.head),
             .next = malloc((size_t)(n ? n : 1) * sizeof *b.next),
             .rem = malloc((size_t)(n ? n : 1) * sizeof *b.rem),
             .used = calloc((size_t)(T / 64 + 1), sizeof *b.used)};
    wf_status st = WF_OK;
    if (!order || !bin_of || !b.head || !b.next || !b.rem || !b.used)
        st = wf_error(WF_ERR_OOM, "loader: out of memory");
    for (int64_t r = 0; st == WF_OK && r <= T; r++) b.head[r] = -1;
    for (int64_t i = 0; st == WF_OK && i < n; i++)
        order[i] = (len_idx){d->off[i + 1] - d->off[i], i};
    if (st == WF_OK) qsort(order, (size_t)n, sizeof *order, by_len_desc);
    for (int64_t k = 0; st == WF_OK && k < n; k++) {
        int64_t len = order[k].len, r = first_fit(&b, len);
        int64_t bin = r >= 0 ? pop(&b, r) : b.n_bins++;
        push(&b, bin, (r >= 0 ? r : T) - len);
        bin_of[k] = bin;
    }
    if (st == WF_OK) { /* counting sort of the items by bin, keeping the packing order */
        l->n_rows = b.n_bins;
        for (int64_t k = 0; k < n; k++) l->row_off[bin_of[k] + 1]++;
        for (int64_t r = 0; r < l->n_rows; r++) l->row_off[r + 1] += l->row_off[r];
        for (int64_t r = 0; r < l->n_rows; r++) b.next[r] = l->row_off[r];
        for (int64_t k = 0; k < n; k++) l->items[b.next[bin_of[k]]++] = order[k].idx;
    }
    free(order), free(bin_of), free(b.head), free(b.next), free(b.rem), free(b.used);
    return st;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Fisher-Yates over the rows with a generator seeded by (seed, epoch). */
static void set_epoch(wf_loader *l, int64_t epoch) {
    if (l->perm_epoch == epoch) return;
    for (int64_t i = 0; i < l->n_rows; i++) l->perm[i] = i;
    if (l->o.shuffle) {
        uint64_t s = wf_hash_combine(wf_hash_combine(0x7368756666ULL, l->o.seed), (uint64_t)epoch);
        for (int64_t i = l->n_rows - 1; i > 0; i--) {
            int64_t j = (int64_t)(splitmix(&s) % (uint64_t)(i + 1)), t = l->perm[i];
            l->perm[i] = l->perm[j], l->perm[j] = t;
        }
    }
    l->perm_epoch = epoch;
}

/* Floats of one batch image: the fitted shape, or the dataset's. */
static int64_t image_floats(const wf_loader *l) {
    const wf_image_spec *s = &l->o.image;
    return s->ch ? s->ch * s->size * s->size : l->d->ch * l->d->h * l->d->w;
}

static wf_status check_image(const wf_dataset *d, const wf_image_spec *s) {
    if (d->task != WF_HEAD_IMAGE_CLS || !s->ch) return WF_OK;
    if (d->ch != 1 && d->ch != s->ch)
        return wf_error(WF_ERR_INVALID, "loader: images of %lld channels cannot feed a model of %lld "
                        "channels (1-channel images are replicated; others must match)",
                        (long long)d->ch, (long long)s->ch);
    if (s->ch > WF_IMAGE_MAX_CH || s->size < 1)
        return wf_error(WF_ERR_INVALID, "loader: model input %lld x %lld x %lld not supported",
                        (long long)s->ch, (long long)s->size, (long long)s->size);
    return WF_OK;
}

static wf_status alloc_batch(wf_loader *l) {
    size_t bt = (size_t)(l->o.B * l->o.T), B = (size_t)l->o.B;
    const wf_dataset *d = l->d;
    if (d->task == WF_HEAD_IMAGE_CLS) {
        l->pixels = malloc(B * (size_t)image_floats(l) * sizeof *l->pixels);
        l->labels = malloc(B * sizeof *l->labels);
        return l->pixels && l->labels ? WF_OK : wf_error(WF_ERR_OOM, "loader: out of memory");
    }
    l->ids = malloc(bt * sizeof *l->ids);
    l->mask = malloc(bt * sizeof *l->mask);
    bool ok = l->ids && l->mask;
    if (l->lm) {
        l->targets = malloc(bt * sizeof *l->targets);
        ok = ok && l->targets;
        if (l->packed) ok = ok && (l->doc = malloc(bt * sizeof *l->doc));
    } else if (d->task == WF_HEAD_SEQ_CLS) {
        ok = ok && (l->labels = malloc(B * sizeof *l->labels));
    } else {
        ok = ok && (l->values = malloc(B * sizeof *l->values));
    }
    return ok ? WF_OK : wf_error(WF_ERR_OOM, "loader: out of memory");
}

wf_status wf_loader_create(const wf_dataset *d, const wf_loader_opts *o, wf_loader **out) {
    *out = NULL;
    if (o->B < 1 || o->T < 1 || o->world < 1 || o->rank < 0 || o->rank >= o->world)
        return wf_error(WF_ERR_INVALID,
                        "loader: B %lld, T %lld, rank %d of %d: expected B, T >= 1 "
                        "and 0 <= rank < world",
                        (long long)o->B, (long long)o->T, o->rank, o->world);
    for (int64_t i = 0; d->task != WF_HEAD_IMAGE_CLS && i < d->n; i++)
        if (d->off[i + 1] - d->off[i] > o->T)
            return wf_error(WF_ERR_INVALID,
                            "loader: example %lld (record %lld) has %lld tokens, "
                            "more than a row's %lld",
                            (long long)i, (long long)d->record[i],
                            (long long)(d->off[i + 1] - d->off[i]), (long long)o->T);
    WF_TRY(check_image(d, &o->image));
    wf_loader *l = calloc(1, sizeof *l);
    if (!l) return wf_error(WF_ERR_OOM, "loader: out of memory");
    l->d = d, l->o = *o;
    if (l->o.image.ch && dt_image_identity(&l->o.image, d->ch, d->h, d->w)) l->o.image.ch = 0;
    l->lm = d->task == WF_HEAD_LM;
    l->packed = l->lm && o->packing;
    l->perm_epoch = -1;
    wf_status st = build_rows(l);
    if (st == WF_OK && !(l->perm = malloc((size_t)(l->n_rows ? l->n_rows : 1) * sizeof *l->perm)))
        st = wf_error(WF_ERR_OOM, "loader: out of memory");
    if (st == WF_OK) st = alloc_batch(l);
    if (st != WF_OK) {
        wf_loader_free(l);
        return st;
    }
    int64_t R = l->n_rows, W = o->world, mine = (R - o->rank + W - 1) / W;
    l->batches = o->drop_last ? R / (o->B * W) : (mine + o->B - 1) / o->B;
    *out = l;
    return WF_OK;
}

void wf_loader_free(wf_loader *l) {
    if (!l) return;
    free(l->row_off), free(l->items), free(l->perm);
    free(l->ids), free(l->mask), free(l->doc), free(l->targets), free(l->labels);
    free(l->values), free(l->pixels);
    free(l);
}

/* Row `b` of the batch from loader row `row`; the rest of the row is padding. */
static void fill_row(wf_loader *l, int64_t b, int64_t row) {
    const wf_dataset *d = l->d;
    int64_t T = l->o.T;
    if (d->task == WF_HEAD_IMAGE_CLS) {
        int64_t i = l->items[l->row_off[row]], px = d->ch * d->h * d->w, out = image_floats(l);
        if (l->o.image.ch)
            dt_image_fit(&l->o.image, d->pixels + i * px, d->ch, d->h, d->w, l->pixels + b * out);
        else
            memcpy(l->pixels + b * px, d->pixels + i * px, (size_t)px * sizeof *l->pixels);
        l->labels[b] = d->labels[i];
        return;
    }
    int32_t *ids = l->ids + b * T, *mask = l->mask + b * T;
    int32_t *tg = l->lm ? l->targets + b * T : NULL, *doc = l->doc ? l->doc + b * T : NULL;
    int64_t p = 0;
    for (int64_t k = l->row_off[row]; k < l->row_off[row + 1]; k++) {
        int64_t i = l->items[k], o = d->off[i], len = d->off[i + 1] - o;
        for (int64_t t = 0; t < len; t++, p++) {
            ids[p] = d->ids[o + t];
            mask[p] = 1;
            if (doc) doc[p] = (int32_t)(k - l->row_off[row]);
            if (tg) tg[p] = t + 1 < len && d->loss[o + t + 1] ? d->ids[o + t + 1] : IGNORE;
        }
        if (l->labels) l->labels[b] = d->labels[i];
        if (l->values) l->values[b] = d->values[i];
    }
    for (; p < T; p++) {
        ids[p] = d->pad_id;
        mask[p] = 0;
        if (doc) doc[p] = -1;
        if (tg) tg[p] = IGNORE;
    }
}

wf_status wf_loader_next(wf_loader *l, wf_batch_host *out) {
    memset(out, 0, sizeof *out);
    if (l->batches == 0)
        return wf_error(WF_ERR_INVALID, "loader: %lld rows make no batch of %lld rows on %d ranks",
                        (long long)l->n_rows, (long long)l->o.B, l->o.world);
    if (l->cur.batch >= l->batches) l->cur.epoch++, l->cur.batch = 0;
    set_epoch(l, l->cur.epoch);
    const wf_loader_opts *o = &l->o;
    int64_t B = o->B, i = l->cur.batch, n = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t g =
            o->drop_last ? (i * o->world + o->rank) * B + b : (i * B + b) * o->world + o->rank;
        if (g >= l->n_rows) break;
        fill_row(l, b, l->perm[g]);
        n++;
    }
    out->B = n, out->T = o->T;
    out->ids = l->ids, out->mask = l->mask, out->doc_ids = l->doc, out->targets = l->targets;
    out->labels = l->labels, out->values = l->values, out->pixels = l->pixels;
    l->cur.batch++;
    return WF_OK;
}

wf_loader_cursor wf_loader_cursor_get(const wf_loader *l) { return l->cur; }

wf_status wf_loader_cursor_set(wf_loader *l, wf_loader_cursor c) {
    if (c.epoch < 0 || c.batch < 0 || c.batch > l->batches)
        return wf_error(WF_ERR_INVALID,
                        "loader: cursor (epoch %lld, batch %lld) is outside an epoch "
                        "of %lld batches",
                        (long long)c.epoch, (long long)c.batch, (long long)l->batches);
    l->cur = c;
    return WF_OK;
}

int64_t wf_loader_batches_per_epoch(const wf_loader *l) { return l->batches; }
int64_t wf_loader_rows(const wf_loader *l) { return l->n_rows; }

int64_t wf_batch_loss_tokens(const wf_batch_host *b) {
    if (!b->targets) return b->B;
    int64_t n = 0;
    for (int64_t i = 0; i < b->B * b->T; i++) n += b->targets[i] != IGNORE;
    return n;
}
