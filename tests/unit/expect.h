/* The unit tests' check macros: EXPECT(cond) prints the failed condition with file:line,
 * CHECK(cond, fmt, ...) a message of its own; both count in `failures`, and main returns 1 when
 * failures > 0 (tests decide by exit code). */
#ifndef WEFT_TESTS_UNIT_EXPECT_H
#define WEFT_TESTS_UNIT_EXPECT_H

#include <stdio.h>

static int failures;

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                       \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#endif
