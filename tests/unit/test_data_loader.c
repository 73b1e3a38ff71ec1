/* Batching (data.h wf_loader_*) on hand-made examples: padded and packed layouts with their
 * targets, masks and doc ids exactly; best-fit-decreasing packing; shuffle determinism per
 * (seed, epoch); disjoint rank shards with equal batch counts whose union per global batch is
 * the one-rank batch; cursor save/restore giving identical next batches; eval loaders that see
 * every row once; sequence and image batches; argument errors. */
#include <math.h>

#include "data_fixture.h"
#include "weft/data.h"

#define IGN (-100)

/* An LM example from ids and a loss string ("0110"). */
static void add_lm(wf_dataset *d, const int32_t *ids, const char *loss, int64_t record) {
    uint8_t m[64];
    int64_t n = (int64_t)strlen(loss);
    for (int64_t i = 0; i < n; i++) m[i] = (uint8_t)(loss[i] - '0');
    wf_example e = {.ids = ids, .loss = m, .len = n, .record = record};
    CHECK(wf_dataset_add(d, &e) == WF_OK, "add: %s", wf_last_error());
}

static wf_loader *loader(const wf_dataset *d, int64_t B, int64_t T, bool packing, bool shuffle,
                         uint64_t seed, int rank, int world, bool drop_last) {
    wf_loader_opts o = {.B = B, .T = T, .packing = packing, .shuffle = shuffle, .seed = seed,
                        .rank = rank, .world = world, .drop_last = drop_last};
    wf_loader *l = NULL;
    CHECK(wf_loader_create(d, &o, &l) == WF_OK, "loader: %s", wf_last_error());
    return l;
}

static void test_padded(void) {
    wf_dataset *d;
    CHECK(wf_dataset_create(WF_HEAD_LM, 0, &d) == WF_OK, "create");
    int32_t a[] = {10, 11, 12, 13}, b[] = {20, 21, 22};
    add_lm(d, a, "0011", 1);
    add_lm(d, b, "111", 2);
    wf_loader *l = loader(d, 2, 6, false, false, 0, 0, 1, true);
    wf_batch_host h;
    CHECK(wf_loader_next(l, &h) == WF_OK && h.B == 2 && h.T == 6 && !h.doc_ids && h.targets,
          "padded batch");
    int32_t ids[] = {10, 11, 12, 13, 0, 0, 20, 21, 22, 0, 0, 0};
    int32_t mask[] = {1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0};
    int32_t tg[] = {IGN, 12, 13, IGN, IGN, IGN, 21, 22, IGN, IGN, IGN, IGN};
    CHECK_IDS(h.ids, ids, 12, "padded ids");
    CHECK_IDS(h.mask, mask, 12, "padded mask");
    CHECK_IDS(h.targets, tg, 12, "padded targets");
    CHECK(wf_batch_loss_tokens(&h) == 4, "4 loss tokens, got %lld",
          (long long)wf_batch_loss_tokens(&h));
    CHECK(wf_loader_batches_per_epoch(l) == 1, "one batch per epoch");
    wf_loader_cursor c = wf_loader_cursor_get(l);
    CHECK(c.epoch == 0 && c.batch == 1, "cursor after one batch");
    CHECK(wf_loader_next(l, &h) == WF_OK && wf_loader_cursor_get(l).epoch == 1,
          "the next epoch starts");
    wf_loader_free(l);
    wf_loader_opts o = {.B = 2, .T = 3, .world = 1, .drop_last = true};
    CHECK(wf_loader_create(d, &o, &l) == WF_ERR_INVALID && strstr(wf_last_error(), "has 4 tokens"),
          "too long for T: %s", wf_last_error());
    o.T = 6, o.rank = 1;
    CHECK(wf_loader_create(d, &o, &l) == WF_ERR_INVALID, "rank outside world");
    o.rank = 0, o.B = 3;
    CHECK(wf_loader_create(d, &o, &l) == WF_OK, "create B 3");
    CHECK(wf_loader_batches_per_epoch(l) == 0 && wf_loader_next(l, &h) == WF_ERR_INVALID,
          "2 rows make no batch of 3: %s", wf_last_error());
    wf_loader_free(l);
    wf_dataset_free(d);
}

static void test_packed(void) {
    wf_dataset *d;
    CHECK(wf_dataset_create(WF_HEAD_LM, 99, &d) == WF_OK, "create");
    int32_t e0[] = {1, 2, 3, 4, 5}, e1[] = {6, 7, 8}, e2[] = {9, 10}, e3[] = {11, 12, 13, 14};
    add_lm(d, e0, "01111", 0);
    add_lm(d, e1, "011", 1);
    add_lm(d, e2, "11", 2);
    add_lm(d, e3, "0101", 3);
    /* best fit decreasing into rows of 8: 5 -> row 0 (3 left), 4 -> row 1 (4 left),
     * 3 -> row 0 (0 left), 2 -> row 1 (2 left) */
    wf_loader *l = loader(d, 2, 8, true, false, 0, 0, 1, true);
    CHECK(wf_loader_rows(l) == 2, "2 packed rows, got %lld", (long long)wf_loader_rows(l));
    wf_batch_host h;
    CHECK(wf_loader_next(l, &h) == WF_OK && h.B == 2 && h.doc_ids, "packed batch");
    int32_t ids[] = {1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 9, 10, 99, 99};
    int32_t doc[] = {0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, -1, -1};
    int32_t mask[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    int32_t tg[] = {2, 3, 4, 5, IGN, 7, 8, IGN, 12, IGN, 14, IGN, 10, IGN, IGN, IGN};
    CHECK_IDS(h.ids, ids, 16, "packed ids");
    CHECK_IDS(h.doc_ids, doc, 16, "doc ids");
    CHECK_IDS(h.mask, mask, 16, "packed mask");
    CHECK_IDS(h.targets, tg, 16, "packed targets");
    CHECK(wf_batch_loss_tokens(&h) == 9, "loss tokens %lld", (long long)wf_batch_loss_tokens(&h));
    wf_loader_free(l);
    wf_dataset_free(d);
}

/* A dataset of n one-token-per-record examples whose id is the example index. */
static wf_dataset *counting(int64_t n) {
    wf_dataset *d;
    CHECK(wf_dataset_create(WF_HEAD_LM, 0, &d) == WF_OK, "create");
    for (int64_t i = 0; i < n; i++) {
        int32_t ids[2] = {(int32_t)i, (int32_t)i};
        add_lm(d, ids, "01", i);
    }
    return d;
}

/* The first id of each row of the next batch. */
static int64_t rows_of(wf_loader *l, int32_t *out) {
    wf_batch_host h;
    if (wf_loader_next(l, &h) != WF_OK) return -1;
    for (int64_t b = 0; b < h.B; b++) out[b] = h.ids[b * h.T];
    return h.B;
}

static void test_shuffle_and_shards(void) {
    wf_dataset *d = counting(103);
    wf_loader *a = loader(d, 4, 2, false, true, 42, 0, 1, true);
    wf_loader *b = loader(d, 4, 2, false, true, 42, 0, 1, true);
    wf_loader *c = loader(d, 4, 2, false, true, 43, 0, 1, true);
    CHECK(wf_loader_batches_per_epoch(a) == 25, "103 rows / 4 -> 25 batches");
    int32_t ra[4], rb[4], rc[4], first[25 * 4], second[25 * 4];
    bool diff_seed = false;
    for (int i = 0; i < 25; i++) {
        rows_of(a, ra), rows_of(b, rb), rows_of(c, rc);
        CHECK(!memcmp(ra, rb, sizeof ra), "same seed, same batch %d", i);
        diff_seed |= memcmp(ra, rc, sizeof ra) != 0;
        memcpy(first + 4 * i, ra, sizeof ra);
    }
    CHECK(diff_seed, "another seed, another order");
    for (int i = 0; i < 25; i++) rows_of(a, second + 4 * i);
    CHECK(memcmp(first, second, sizeof first) != 0, "epoch 1 is ordered differently from epoch 0");
    bool seen[103] = {0}, dup = false;
    for (int i = 0; i < 100; i++) dup |= seen[first[i]], seen[first[i]] = true;
    CHECK(!dup, "an epoch has no row twice");
    wf_loader_free(b), wf_loader_free(c);

    /* 3 ranks x B 2: each global batch is the one-rank B 6 batch, rank by rank */
    wf_loader *one = loader(d, 6, 2, false, true, 5, 0, 1, true), *r[3];
    for (int k = 0; k < 3; k++) r[k] = loader(d, 2, 2, false, true, 5, k, 3, true);
    for (int k = 0; k < 3; k++)
        CHECK(wf_loader_batches_per_epoch(r[k]) == 17, "103 / 6 -> 17 batches on rank %d", k);
    bool all_seen[103] = {0}, overlap = false;
    for (int i = 0; i < 17 * 2; i++) { /* two epochs */
        int32_t g[6], part[2];
        rows_of(one, g);
        for (int k = 0; k < 3; k++) {
            rows_of(r[k], part);
            CHECK(part[0] == g[2 * k] && part[1] == g[2 * k + 1], "batch %d rank %d is its share",
                  i, k);
            for (int j = 0; j < 2 && i < 17; j++)
                overlap |= all_seen[part[j]], all_seen[part[j]] = true;
        }
    }
    CHECK(!overlap, "ranks see disjoint rows");
    wf_loader_free(one);
    for (int k = 0; k < 3; k++) wf_loader_free(r[k]);

    /* cursor: 2 epochs + 5 batches, save, 10 more; a fresh loader set to the cursor gives those */
    for (int i = 0; i < 5; i++) rows_of(a, ra);
    wf_loader_cursor cur = wf_loader_cursor_get(a);
    CHECK(cur.epoch == 2 && cur.batch == 5, "cursor (2, 5), got (%lld, %lld)", (long long)cur.epoch,
          (long long)cur.batch);
    int32_t next[10 * 4], again[10 * 4];
    for (int i = 0; i < 10; i++) rows_of(a, next + 4 * i);
    wf_loader *fresh = loader(d, 4, 2, false, true, 42, 0, 1, true);
    CHECK(wf_loader_cursor_set(fresh, cur) == WF_OK, "set cursor");
    for (int i = 0; i < 10; i++) rows_of(fresh, again + 4 * i);
    CHECK(!memcmp(next, again, sizeof next), "resume gives the same batches");
    CHECK(wf_loader_cursor_set(fresh, (wf_loader_cursor){0, 26}) == WF_ERR_INVALID,
          "cursor past the epoch");
    CHECK(wf_loader_cursor_set(fresh, (wf_loader_cursor){2, 25}) == WF_OK &&
              rows_of(fresh, ra) == 4 && wf_loader_cursor_get(fresh).epoch == 3,
          "a cursor at the end of an epoch moves on");
    wf_loader_free(fresh);
    wf_loader_free(a);

    /* eval: every row exactly once over the ranks, the last batch short */
    bool once[103] = {0}, twice = false;
    int64_t total = 0;
    for (int k = 0; k < 2; k++) {
        wf_loader *e = loader(d, 8, 2, false, false, 0, k, 2, false);
        int64_t nb = wf_loader_batches_per_epoch(e);
        CHECK(nb == (k == 0 ? 7 : 7), "rank %d: %lld eval batches", k, (long long)nb);
        for (int64_t i = 0; i < nb; i++) {
            int32_t got[8];
            int64_t n = rows_of(e, got);
            CHECK(n == (i + 1 < nb ? 8
                        : k == 0   ? 4
                                   : 3),
                  "rank %d batch %lld has %lld rows", k, (long long)i, (long long)n);
            for (int64_t j = 0; j < n; j++) twice |= once[got[j]], once[got[j]] = true;
            total += n;
        }
        wf_loader_free(e);
    }
    CHECK(total == 103 && !twice, "eval sees each row once (%lld)", (long long)total);
    wf_dataset_free(d);
}

static void test_sequence_and_images(void) {
    wf_dataset *d;
    CHECK(wf_dataset_create(WF_HEAD_SEQ_CLS, 7, &d) == WF_OK, "create");
    int32_t a[] = {1, 2, 3}, b[] = {4};
    wf_example e = {.ids = a, .len = 3, .label = 2, .record = 1};
    CHECK(wf_dataset_add(d, &e) == WF_OK, "add");
    e = (wf_example){.ids = b, .len = 1, .label = 0, .record = 2};
    CHECK(wf_dataset_add(d, &e) == WF_OK, "add");
    wf_loader *l = loader(d, 2, 4, true, false, 0, 0, 1, true); /* packing ignored */
    wf_batch_host h;
    CHECK(wf_loader_next(l, &h) == WF_OK && !h.targets && !h.doc_ids && h.labels && !h.values,
          "cls batch");
    int32_t ids[] = {1, 2, 3, 7, 4, 7, 7, 7}, mask[] = {1, 1, 1, 0, 1, 0, 0, 0}, labels[] = {2, 0};
    CHECK_IDS(h.ids, ids, 8, "cls ids");
    CHECK_IDS(h.mask, mask, 8, "cls mask");
    CHECK_IDS(h.labels, labels, 2, "labels");
    CHECK(wf_batch_loss_tokens(&h) == 2, "one loss per row");
    wf_loader_free(l);
    wf_dataset_free(d);

    CHECK(wf_dataset_create(WF_HEAD_IMAGE_CLS, 0, &d) == WF_OK &&
              wf_dataset_set_image(d, 1, 2, 2) == WF_OK,
          "images");
    float px[3][4] = {{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}};
    for (int i = 0; i < 3; i++) {
        e = (wf_example){.pixels = px[i], .label = i, .record = i};
        CHECK(wf_dataset_add(d, &e) == WF_OK, "add image");
    }
    l = loader(d, 2, 5, false, false, 0, 0, 1, true);
    CHECK(wf_loader_next(l, &h) == WF_OK && h.pixels && !h.ids && h.labels[1] == 1 &&
              h.pixels[5] == 5,
          "image batch");
    wf_loader_free(l);
    wf_dataset_free(d);
}

/* Images fitted to a model input (image.c): a 2x2 gray image enlarged to 4x4 with half-pixel
 * bilinear taps (per axis: in0, 3/4 in0 + 1/4 in1, 1/4 in0 + 3/4 in1, in1), replicated over 3
 * channels, normalized per channel; the processor settings read from
 * preprocessor_config.json; bad settings name the file and key. */
static void test_image_fit(void) {
    wf_dataset *d;
    CHECK(wf_dataset_create(WF_HEAD_IMAGE_CLS, 0, &d) == WF_OK &&
              wf_dataset_set_image(d, 1, 2, 2) == WF_OK, "images");
    float raw[4] = {0.0f, 1.0f, 0.5f, 0.25f}, px[4]; /* (y, x) in [0, 1] */
    for (int i = 0; i < 4; i++) px[i] = (raw[i] - 0.5f) / 0.5f; /* as datasets store them */
    wf_example e = {.pixels = px, .label = 1};
    CHECK(wf_dataset_add(d, &e) == WF_OK, "add image");
    FILE *f = fopen(scratch("preprocessor_config.json"), "w");
    fputs("{\"image_mean\": [0.1, 0.2, 0.3], \"image_std\": 0.25, \"size\": {\"height\": 4}}", f);
    fclose(f);
    char dir[300];
    snprintf(dir, sizeof dir, "%s", scratch("preprocessor_config.json"));
    *strrchr(dir, '/') = 0;
    wf_loader_opts o = {.B = 1, .T = 17, .world = 1, .drop_last = true};
    CHECK(wf_image_spec_for_model(dir, 3, 4, &o.image) == WF_OK && o.image.mean[2] == 0.3f &&
              o.image.std[1] == 0.25f, "processor config: %s", wf_last_error());
    wf_loader *l = NULL;
    wf_batch_host h;
    CHECK(wf_loader_create(d, &o, &l) == WF_OK && wf_loader_next(l, &h) == WF_OK, "fit loader: %s",
          wf_last_error());
    const float w[4][2] = {{1, 0}, {0.75f, 0.25f}, {0.25f, 0.75f}, {0, 1}};
    int bad = 0;
    for (int c = 0; l && c < 3; c++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) {
                double v = 0;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) v += w[y][i] * w[x][j] * raw[i * 2 + j];
                double want = (v - 0.1 * (c + 1)) / 0.25, got = h.pixels[(c * 4 + y) * 4 + x];
                /* float32 taps and normalization: a few ulps of values below 4 */
                if (fabs(got - want) > 1e-5 && bad++ < 3)
                    fprintf(stderr, "  fit c%d y%d x%d: expected %g, got %g\n", c, y, x, want, got);
            }
    CHECK(l && !bad, "bilinear 2x2 -> 3x4x4, normalized per channel");
    wf_loader_free(l);
    wf_image_spec id;
    CHECK(wf_image_spec_for_model(NULL, 1, 2, &id) == WF_OK && id.mean[0] == 0.5f && !id.source[0],
          "ViT defaults without a processor config");
    f = fopen(scratch("preprocessor_config.json"), "w");
    fputs("{\"image_mean\": [0.1, 0.2]}", f);
    fclose(f);
    CHECK(wf_image_spec_for_model(dir, 3, 4, &id) == WF_ERR_FORMAT &&
              strstr(wf_last_error(), "preprocessor_config.json: key 'image_mean'"),
          "mean list of the wrong length: %s", wf_last_error());
    remove(scratch("preprocessor_config.json"));
    o.image.ch = 2; /* 1-channel images replicate; 2 stored channels would not fit 3 */
    CHECK(wf_loader_create(d, &o, &l) == WF_OK, "gray to 2 channels: %s", wf_last_error());
    wf_loader_free(l);
    wf_dataset_free(d);
}

int main(void) {
    test_padded();
    test_packed();
    test_shuffle_and_shards();
    test_sequence_and_images();
    test_image_fit();
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("data loader: all checks passed\n");
    return failures ? 1 : 0;
}
