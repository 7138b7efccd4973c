/* encode.c - Server-Sent Events encoder.
 * SPDX-License-Identifier: MIT
 *
 * The hot path of the worker: each event is encoded once per process and
 * the bytes are shared by every stream that sends it, so this is written to
 * reserve once and copy line by line with memchr-style scanning.
 */
#include <stdio.h>
#include <string.h>

#include "encode.h"
#include "logging.h"
#include "sse_error.h"

static const char DATA_PREFIX[] = "data: ";
#define DATA_PREFIX_LEN (sizeof DATA_PREFIX - 1)

size_t sse_encode_event_size(size_t type_len, size_t data_len)
{
    /* Worst case: every payload byte is a line break, each becoming
     * "\ndata: " (7 bytes). "id: " + 20 digits + "\n" + "event: " + type +
     * "\n" + "data: " + "\n\n". */
    size_t fixed = 4 + 20 + 1 + 7 + 1 + DATA_PREFIX_LEN + 2;
    if (type_len > SIZE_MAX - fixed)
        return SIZE_MAX;
    fixed += type_len;
    if (data_len > (SIZE_MAX - fixed) / (DATA_PREFIX_LEN + 1))
        return SIZE_MAX;
    return fixed + data_len * (DATA_PREFIX_LEN + 1);
}

/* Finds the next CR or LF in p[0..n); returns n if none. */
static size_t find_line_end(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\n' || p[i] == '\r')
            return i;
    return n;
}

int sse_encode_event(struct sse_buf *out, int64_t id, const char *type,
                     size_t type_len, const char *data, size_t data_len)
{
    if (id < 0)
        return SSE_EINVAL;
    if (!type)
        type_len = 0;
    if (type_len && find_line_end(type, type_len) != type_len)
        return SSE_EINVAL;

    /* Reserve the exact size first so that a failure leaves out unchanged
     * and the appends below cannot fail half way. */
    size_t breaks = 0, break_bytes = 0;
    for (size_t i = 0; i < data_len; i++) {
        if (data[i] == '\r' && i + 1 < data_len && data[i + 1] == '\n') {
            breaks++;
            break_bytes += 2;
            i++;
        } else if (data[i] == '\n' || data[i] == '\r') {
            breaks++;
            break_bytes++;
        }
    }
    if (sse_encode_event_size(type_len, data_len) == SIZE_MAX)
        return SSE_ETOOBIG;
    char digits[24];
    int ndigits = snprintf(digits, sizeof digits, "%lld", (long long)id);
    size_t need = 4 + (size_t)ndigits + 1 + (type_len ? 7 + type_len + 1 : 0) +
                  (breaks + 1) * (DATA_PREFIX_LEN + 1) +
                  (data_len - break_bytes) + 1;
    int rc = sse_buf_reserve(out, need);
    if (rc)
        return rc;

    size_t start = out->len;
    rc = sse_buf_append(out, "id: ", 4);
    if (!rc)
        rc = sse_buf_append(out, digits, (size_t)ndigits);
    if (!rc)
        rc = sse_buf_append(out, "\n", 1);
    if (!rc && type_len) {
        rc = sse_buf_append(out, "event: ", 7);
        if (!rc)
            rc = sse_buf_append(out, type, type_len);
        if (!rc)
            rc = sse_buf_append(out, "\n", 1);
    }
    const char *p = data;
    size_t left = data_len;
    for (;;) {
        if (rc)
            break;
        size_t n = find_line_end(p, left);
        rc = sse_buf_append(out, DATA_PREFIX, DATA_PREFIX_LEN);
        if (!rc)
            rc = sse_buf_append(out, p, n);
        if (!rc)
            rc = sse_buf_append(out, "\n", 1);
        if (n == left)
            break;
        /* CRLF is one line break, not two. */
        size_t skip =
            (p[n] == '\r' && n + 1 < left && p[n + 1] == '\n') ? 2 : 1;
        p += n + skip;
        left -= n + skip;
    }
    if (!rc)
        rc = sse_buf_append(out, "\n", 1);
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

int sse_encode_row(struct sse_buf *out, int64_t id, const char *type,
                   size_t type_len, const char *data, size_t data_len)
{
    int rc = sse_encode_event(out, id, type, type_len, data, data_len);
    if (rc == SSE_EINVAL && id >= 0) {
        /* The schema's CHECK refuses such types; a row from an older or
         * hand-edited table is sent without its type rather than lost. */
        sse_log(SSE_LOG_WARN,
                "event id=%lld has an invalid type; sent as 'message'",
                (long long)id);
        rc = sse_encode_event(out, id, NULL, 0, data, data_len);
    }
    return rc;
}

int sse_encode_retry(struct sse_buf *out, int64_t ms)
{
    if (ms < 0)
        return SSE_EINVAL;
    size_t start = out->len;
    int rc = sse_buf_append(out, "retry: ", 7);
    if (!rc)
        rc = sse_buf_append_i64(out, ms);
    if (!rc)
        rc = sse_buf_append(out, "\n\n", 2);
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

int sse_encode_comment(struct sse_buf *out, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    int rc = sse_buf_reserve(out, n + 4);
    if (rc)
        return rc;
    if (n == 0)
        return sse_buf_append(out, ":\n\n", 3);
    sse_buf_append(out, ": ", 2);
    size_t at = out->len;
    sse_buf_append(out, text, n);
    for (size_t i = at; i < out->len; i++)
        if (out->data[i] == '\r' || out->data[i] == '\n')
            out->data[i] = ' ';
    return sse_buf_append(out, "\n\n", 2);
}

int sse_encode_padding(struct sse_buf *out, size_t n)
{
    if (n < 3)
        return SSE_EINVAL;
    int rc = sse_buf_reserve(out, n);
    if (rc)
        return rc;
    out->data[out->len] = ':';
    memset(out->data + out->len + 1, ' ', n - 3);
    out->data[out->len + n - 2] = '\n';
    out->data[out->len + n - 1] = '\n';
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}
