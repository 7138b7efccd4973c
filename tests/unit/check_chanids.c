/* check_chanids.c - unit tests for lib/chanids.c (interned channel ids).
 * SPDX-License-Identifier: MIT
 *
 * Random holds and releases over a few names, checked after each one
 * against a model that is trivially right: a reference count per name and
 * the id each name got when its count last went from 0 to 1.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "chanids.h"
#include "testutil.h"

static uint32_t hash_of(const char *name)
{
    return sse_channel_hash(name, strlen(name));
}

START_TEST(test_chanids_hold_same_name_same_entry)
{
    struct sse_chanids t;
    sse_chanids_init(&t);
    struct sse_chanid *a, *b, *c;
    int created;
    ck_assert_uint_eq(sse_chanids_find(&t, "news", hash_of("news")), 0);
    ck_assert_int_eq(
        sse_chanids_hold(&t, "news", hash_of("news"), &a, &created), 0);
    ck_assert_int_eq(created, 1);
    ck_assert_int_eq(
        sse_chanids_hold(&t, "news", hash_of("news"), &b, &created), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_ptr_eq(a, b);
    ck_assert_int_eq(
        sse_chanids_hold(&t, "sport", hash_of("sport"), &c, &created), 0);
    ck_assert_uint_ne(sse_chanid_id(c), sse_chanid_id(a));
    ck_assert_uint_eq(sse_chanids_find(&t, "news", hash_of("news")),
                      sse_chanid_id(a));
    sse_chanids_release(&t, a);
    sse_chanids_release(&t, b);
    sse_chanids_release(&t, c);
    ck_assert_uint_eq(sse_chanids_find(&t, "news", hash_of("news")), 0);
    sse_chanids_cleanup(&t);
}
END_TEST

START_TEST(test_chanids_same_hash_other_name_other_id)
{
    /* The table keys on the hash but must tell names apart: the same
     * hash given for two names (as a collision would) yields two ids. */
    struct sse_chanids t;
    sse_chanids_init(&t);
    struct sse_chanid *a, *b;
    int created;
    ck_assert_int_eq(sse_chanids_hold(&t, "a", 7, &a, &created), 0);
    ck_assert_int_eq(sse_chanids_hold(&t, "b", 7, &b, &created), 0);
    ck_assert_int_eq(created, 1);
    ck_assert_uint_ne(sse_chanid_id(a), sse_chanid_id(b));
    ck_assert_uint_eq(sse_chanids_find(&t, "b", 7), sse_chanid_id(b));
    ck_assert_uint_eq(sse_chanids_find(&t, "c", 7), 0);
    sse_chanids_release(&t, a);
    ck_assert_uint_eq(sse_chanids_find(&t, "b", 7), sse_chanid_id(b));
    sse_chanids_release(&t, b);
    sse_chanids_cleanup(&t);
}
END_TEST

#define NAMES 40

START_TEST(test_chanids_random_against_model)
{
    struct tu_rng g;
    tu_rng_init(&g, "test_chanids_random_against_model");
    struct sse_chanids t;
    sse_chanids_init(&t);
    char names[NAMES][16];
    struct sse_chanid *held[NAMES][8];
    size_t refs[NAMES] = {0};
    uint64_t id[NAMES] = {0}, seen_max = 0;
    for (int i = 0; i < NAMES; i++)
        snprintf(names[i], sizeof names[i], "ch%d", i);
    for (int step = 0; step < 20000; step++) {
        int i = (int)tu_rng_below(&g, NAMES);
        uint32_t h = hash_of(names[i]);
        if (refs[i] < 8 && (refs[i] == 0 || tu_rng_below(&g, 2))) {
            int created;
            ck_assert_int_eq(
                sse_chanids_hold(&t, names[i], h, &held[i][refs[i]], &created),
                0);
            ck_assert_int_eq(created, refs[i] == 0);
            uint64_t got = sse_chanid_id(held[i][refs[i]]);
            if (created) {
                /* A new entry: an id never given before. */
                ck_assert_uint_gt(got, seen_max);
                seen_max = got;
                id[i] = got;
            }
            ck_assert_uint_eq(got, id[i]);
            refs[i]++;
        } else {
            sse_chanids_release(&t, held[i][--refs[i]]);
        }
        int j = (int)tu_rng_below(&g, NAMES);
        ck_assert_uint_eq(sse_chanids_find(&t, names[j], hash_of(names[j])),
                          refs[j] ? id[j] : 0);
    }
    for (int i = 0; i < NAMES; i++)
        while (refs[i])
            sse_chanids_release(&t, held[i][--refs[i]]);
    sse_chanids_cleanup(&t);
}
END_TEST

static Suite *chanids_suite(void)
{
    Suite *s = suite_create("chanids");
    TCase *tc = tcase_create("chanids");
    tcase_add_test(tc, test_chanids_hold_same_name_same_entry);
    tcase_add_test(tc, test_chanids_same_hash_other_name_other_id);
    tcase_add_test(tc, test_chanids_random_against_model);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(chanids_suite());
}
