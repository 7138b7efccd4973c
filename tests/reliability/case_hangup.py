# case_hangup.py - a stream whose web server closes its FastCGI connection
# over TCP is ended at once, not at its next heartbeat.
# SPDX-License-Identifier: MIT
#
# Found while making the reliability suite steady: the hub sees the peer's
# FIN (EPOLLRDHUP) and the stream writes a probe to tell a close from a
# half-close, but over TCP the first write after a FIN still succeeds, so the
# stream took the close for a half-close and held its thread until the next
# heartbeat (15 s by default). nginx and Apache reach the worker over TCP in
# the shipped recipes: every browser that left held a thread that long.

import time

import fcgi_raw as F
from case_accept import init_db, log_text, send_stream_request, start, await_answer
from harness import check, wait_until
from registry import case


@case("hangup: a stream whose FastCGI connection closes over TCP ends within 1 s, not at the heartbeat")
def t_tcp_close(env):
    init_db(env)
    w = start(env, listen="tcp", args=["--threads", "3", "--heartbeat", "15"])
    took = []
    for i in range(3):
        c = send_stream_request(w)
        await_answer(c, 3.0, "stream %d" % (i + 1))
        ended = log_text(w).count("stream end")
        t = time.monotonic()
        c.close()
        wait_until(lambda: log_text(w).count("stream end") > ended, 14,
                   "the worker to end stream %d after its connection closed" % (i + 1))
        took.append(time.monotonic() - t)
    check(max(took) < 1.0, "streams ended %s s after their connection closed (a heartbeat is 15 s)"
          % ", ".join("%.2f" % x for x in took))
    print("#   ended %s s after the close" % ", ".join("%.2f" % x for x in took))
