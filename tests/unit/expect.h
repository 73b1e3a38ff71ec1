/* The unit tests' check macro: EXPECT(cond) prints the failed condition with file:line and
 * counts it in `failures`; main returns 1 when failures > 0 (tests decide by exit code). */
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

#endif
