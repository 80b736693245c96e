/*
 * wsload: a WebSocket load client that holds thousands of connections in one
 * thread (epoll, non-blocking sockets) and records when each text frame
 * arrives.
 *
 * It speaks just enough of RFC 6455 for a benchmark: the opening handshake
 * (offering permessage-deflate, as browsers do, and counting servers that
 * accept it), unmasked server frames of any length, pongs to pings, and the
 * closing handshake. For every text frame that carries "orderId":<integer>
 * it keeps the pair (orderId, receipt time in microseconds since the epoch);
 * the harness turns these into latencies (the benchmark puts the send time,
 * or an order id it can join on, in orderId).
 *
 * Targets come from a file, one "port request-target" a line; connection i
 * uses line i modulo the number of lines. Connects are paced: at most
 * --max-pending handshakes are in flight, so a burst of thousands never
 * overflows a server's listen backlog.
 *
 * Commands, one a line on standard input; each gets one answer line on
 * standard output:
 *   CONNECT n           open n more connections; answered once all settled:
 *                       "CONNECTED <open> <failed> <deflate>"
 *   STATS               "STATS <open> <frames> <records> <closed> <failed> <cpu_us> <pings> <deflate> <maxrss_kb>"
 *   RESET [floor]       forget the records; with a floor, frames whose orderId is
 *                       below it (late frames of an earlier run) are not kept; "OK"
 *   WAIT n ms           answered when n records are kept or after ms: "WAITED <records>"
 *   DUMP path           write the records (pairs of little-endian int64); "DUMPED <n>"
 *   CLOSE               close every connection; "CLOSED <n>"
 *   QUIT                exit (so does end of input: the harness went away)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_FREE, ST_CONNECTING, ST_SENDING, ST_UPGRADING, ST_OPEN, ST_CLOSED, ST_RETRY };

typedef struct {
    int fd;
    int state;
    int target;
    int attempts;
    int sent;          /* bytes of the handshake written */
    int64_t started;   /* when the attempt began (us) */
    unsigned char *buf;
    int len, cap;
} conn_t;

typedef struct {
    int port;
    char *request;     /* the whole handshake request */
    int request_len;
} target_t;

typedef struct {
    int64_t order_id;
    int64_t recv_us;
} record_t;

static conn_t *conns;
static int nconns, capconns;
static target_t *targets;
static int ntargets;
static record_t *records;
static long nrecords, caprecords;
static long frames, closed_after_open, failed, open_count, pings, deflate_accepted;
static int pending, max_pending = 256, want_connect, epfd;
static long queued_next; /* next connection index to start */
static int *retry_stack;
static int nretry;
static int connect_reply_due;
static long wait_for = -1;
static int64_t wait_deadline;
static int handshake_timeout_ms = 15000;
static long max_records = 50L * 1000 * 1000;
static int64_t floor_id = INT64_MIN;

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void reply(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void load_targets(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) die("targets");
    char line[4096];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        int port;
        char target[3800];
        if (sscanf(line, "%d %3799s", &port, target) != 2) continue;
        if (ntargets == cap) {
            cap = cap ? cap * 2 : 64;
            targets = realloc(targets, sizeof(target_t) * cap);
            if (!targets) die("realloc");
        }
        char req[4096];
        int n = snprintf(req, sizeof req,
                         "GET %s HTTP/1.1\r\n"
                         "Host: 127.0.0.1:%d\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                         "\r\n",
                         target, port);
        targets[ntargets].port = port;
        targets[ntargets].request = strndup(req, n);
        targets[ntargets].request_len = n;
        ntargets++;
    }
    fclose(f);
    if (!ntargets) {
        fprintf(stderr, "no targets in %s\n", path);
        exit(2);
    }
}

static void record(int64_t order_id, int64_t at) {
    if (order_id < floor_id || nrecords >= max_records) return;
    if (nrecords == caprecords) {
        caprecords = caprecords ? caprecords * 2 : 1 << 16;
        records = realloc(records, sizeof(record_t) * caprecords);
        if (!records) die("realloc records");
    }
    records[nrecords].order_id = order_id;
    records[nrecords].recv_us = at;
    nrecords++;
}

static void conn_close(conn_t *c, int failed_attempt);

static void start_attempt(conn_t *c) {
    target_t *t = &targets[c->target];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        failed++;
        c->state = ST_CLOSED;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(t->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = fd;
    c->sent = 0;
    c->len = 0;
    c->attempts++;
    c->started = now_us();
    pending++;
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (r < 0 && errno != EINPROGRESS) {
        conn_close(c, 1);
        return;
    }
    c->state = ST_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void pump_connects(void) {
    while (nretry > 0 && pending < max_pending) start_attempt(&conns[retry_stack[--nretry]]);
    while (want_connect > 0 && pending < max_pending) {
        conn_t *c = &conns[nconns];
        memset(c, 0, sizeof *c);
        c->fd = -1;
        c->target = (int)(queued_next % ntargets);
        queued_next++;
        nconns++;
        want_connect--;
        start_attempt(c);
    }
}

/* failed_attempt: the handshake never finished (retried a few times). */
static void conn_close(conn_t *c, int failed_attempt) {
    int was = c->state;
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    if (was == ST_CONNECTING || was == ST_SENDING || was == ST_UPGRADING) pending--;
    if (was == ST_OPEN) {
        open_count--;
        closed_after_open++;
    }
    c->state = ST_CLOSED;
    if (failed_attempt) {
        if (c->attempts < 3) {
            c->state = ST_RETRY; /* started again by pump_connects, outside this event */
            retry_stack[nretry++] = (int)(c - conns);
        } else {
            failed++;
        }
    }
}

static int ensure_cap(conn_t *c, int need) {
    if (c->cap >= need) return 1;
    int cap = c->cap ? c->cap : 512;
    while (cap < need) cap *= 2;
    unsigned char *b = realloc(c->buf, cap);
    if (!b) return 0;
    c->buf = b;
    c->cap = cap;
    return 1;
}

static void send_control(conn_t *c, int opcode, const unsigned char *payload, int n) {
    unsigned char out[2 + 4 + 125];
    if (n > 125) n = 125;
    out[0] = 0x80 | opcode;
    out[1] = 0x80 | n; /* client frames are masked; a zero key leaves the payload as is */
    memset(out + 2, 0, 4);
    if (n) memcpy(out + 6, payload, n);
    ssize_t w = write(c->fd, out, 6 + n);
    (void)w;
}

static int64_t parse_order_id(const unsigned char *p, long n, int *found) {
    static const char key[] = "\"orderId\"";
    const unsigned char *k = memmem(p, n, key, sizeof key - 1);
    *found = 0;
    if (!k) return 0;
    const unsigned char *e = p + n;
    k += sizeof key - 1;
    while (k < e && (*k == ' ' || *k == ':')) k++;
    int64_t v = 0;
    int digits = 0;
    while (k < e && *k >= '0' && *k <= '9') {
        v = v * 10 + (*k - '0');
        k++;
        digits++;
    }
    *found = digits > 0;
    return v;
}

/* Parse complete frames in c->buf; return 0 when the connection should close. */
static int parse_frames(conn_t *c, int64_t at) {
    int off = 0;
    while (c->len - off >= 2) {
        unsigned char *f = c->buf + off;
        int opcode = f[0] & 0x0f;
        int rsv1 = f[0] & 0x40;
        int masked = f[1] & 0x80;
        uint64_t plen = f[1] & 0x7f;
        int hdr = 2;
        if (plen == 126) {
            if (c->len - off < 4) break;
            plen = ((uint64_t)f[2] << 8) | f[3];
            hdr = 4;
        } else if (plen == 127) {
            if (c->len - off < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = (plen << 8) | f[2 + i];
            hdr = 10;
        }
        if (masked) hdr += 4;
        if (plen > (1u << 24)) return 0;
        if ((uint64_t)(c->len - off) < hdr + plen) {
            if (!ensure_cap(c, off + hdr + (int)plen)) return 0;
            break;
        }
        unsigned char *payload = f + hdr;
        if (masked) {
            unsigned char *m = f + hdr - 4;
            for (uint64_t i = 0; i < plen; i++) payload[i] ^= m[i & 3];
        }
        if (opcode == 1 || opcode == 0) {
            frames++;
            if (rsv1) {
                deflate_accepted++; /* compressed: cannot be read here */
            } else {
                int found;
                int64_t id = parse_order_id(payload, (long)plen, &found);
                if (found) record(id, at);
            }
        } else if (opcode == 9) {
            pings++;
            send_control(c, 10, payload, (int)plen);
        } else if (opcode == 8) {
            send_control(c, 8, payload, plen >= 2 ? 2 : 0);
            return 0;
        }
        off += hdr + (int)plen;
    }
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    return 1;
}

static void on_readable(conn_t *c) {
    for (;;) {
        if (!ensure_cap(c, c->len + 512)) {
            conn_close(c, 0);
            return;
        }
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (r > 0) {
            int64_t at = now_us();
            c->len += (int)r;
            if (c->state == ST_UPGRADING) {
                unsigned char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
                if (!end) continue;
                int hlen = (int)(end - c->buf) + 4;
                if (c->len < 12 || memcmp(c->buf + 9, "101", 3) != 0) {
                    conn_close(c, 1);
                    return;
                }
                if (memmem(c->buf, hlen, "permessage-deflate", 18)) deflate_accepted++;
                memmove(c->buf, c->buf + hlen, c->len - hlen);
                c->len -= hlen;
                c->state = ST_OPEN;
                pending--;
                open_count++;
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - conns)};
                epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
                pump_connects();
            }
            if (c->state == ST_OPEN && !parse_frames(c, at)) {
                conn_close(c, 0);
                return;
            }
            if (c->len == c->cap && c->cap >= (1 << 24)) {
                conn_close(c, 0);
                return;
            }
            continue;
        }
        if (r == 0) {
            conn_close(c, c->state != ST_OPEN);
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        conn_close(c, c->state != ST_OPEN);
        return;
    }
}

static void on_writable(conn_t *c) {
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            conn_close(c, 1);
            return;
        }
        c->state = ST_SENDING;
    }
    if (c->state == ST_SENDING) {
        target_t *t = &targets[c->target];
        while (c->sent < t->request_len) {
            ssize_t w = write(c->fd, t->request + c->sent, t->request_len - c->sent);
            if (w < 0) {
                if (errno == EAGAIN) return;
                conn_close(c, 1);
                return;
            }
            c->sent += (int)w;
        }
        c->state = ST_UPGRADING;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - conns)};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static void expire_handshakes(void) {
    static int64_t last;
    int64_t t = now_us();
    if (t - last < 200000) return;
    last = t;
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        if ((c->state == ST_CONNECTING || c->state == ST_SENDING || c->state == ST_UPGRADING) &&
            t - c->started > (int64_t)handshake_timeout_ms * 1000)
            conn_close(c, 1);
    }
}

static long cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1000000L +
           ru.ru_stime.tv_usec;
}

static long maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void maybe_answer(void) {
    if (connect_reply_due && want_connect == 0 && pending == 0 && nretry == 0) {
        connect_reply_due = 0;
        reply("CONNECTED %ld %ld %ld", open_count, failed, deflate_accepted);
    }
    if (wait_for >= 0 && (nrecords >= wait_for || now_us() >= wait_deadline)) {
        wait_for = -1;
        reply("WAITED %ld", nrecords);
    }
}

static void command(char *line) {
    char arg[1024];
    long n, ms;
    if (sscanf(line, "CONNECT %ld", &n) == 1) {
        if (nconns + want_connect + n > capconns) {
            /* grown here only: handlers keep pointers into the array */
            capconns = (int)(nconns + want_connect + n);
            conns = realloc(conns, sizeof(conn_t) * capconns);
            retry_stack = realloc(retry_stack, sizeof(int) * capconns);
            if (!conns || !retry_stack) die("realloc conns");
        }
        want_connect += (int)n;
        connect_reply_due = 1;
        pump_connects();
    } else if (strncmp(line, "STATS", 5) == 0) {
        reply("STATS %ld %ld %ld %ld %ld %ld %ld %ld %ld", open_count, frames, nrecords,
              closed_after_open, failed, cpu_us(), pings, deflate_accepted, maxrss_kb());
    } else if (strncmp(line, "RESET", 5) == 0) {
        long long f;
        floor_id = sscanf(line, "RESET %lld", &f) == 1 ? (int64_t)f : INT64_MIN;
        nrecords = 0;
        reply("OK");
    } else if (sscanf(line, "WAIT %ld %ld", &n, &ms) == 2) {
        wait_for = n;
        wait_deadline = now_us() + ms * 1000;
    } else if (sscanf(line, "DUMP %1023s", arg) == 1) {
        FILE *f = fopen(arg, "wb");
        if (!f) {
            reply("ERROR cannot write %s", arg);
            return;
        }
        fwrite(records, sizeof(record_t), nrecords, f);
        fclose(f);
        reply("DUMPED %ld", nrecords);
    } else if (strncmp(line, "CLOSE", 5) == 0) {
        long k = 0;
        for (int i = 0; i < nconns; i++) {
            conn_t *c = &conns[i];
            if (c->state == ST_OPEN) {
                send_control(c, 8, (const unsigned char *)"\x03\xe8", 2);
                open_count--;
                k++;
            } else if (c->state == ST_CONNECTING || c->state == ST_SENDING ||
                       c->state == ST_UPGRADING) {
                pending--;
            }
            if (c->fd >= 0) {
                epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
            }
            free(c->buf);
            c->buf = NULL;
            c->state = ST_FREE; /* not counted as closed by the server */
        }
        nretry = 0;
        want_connect = 0;
        reply("CLOSED %ld", k);
    } else if (strncmp(line, "QUIT", 4) == 0) {
        exit(0);
    } else {
        reply("ERROR unknown command");
    }
}

static void on_stdin(void) {
    static char buf[8192];
    static int len;
    ssize_t r = read(0, buf + len, sizeof buf - 1 - len);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
        exit(0); /* the harness is gone */
    }
    len += (int)r;
    for (;;) {
        char *nl = memchr(buf, '\n', len);
        if (!nl) break;
        *nl = 0;
        command(buf);
        int used = (int)(nl - buf) + 1;
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    if (len == (int)sizeof buf - 1) len = 0;
}

int main(int argc, char **argv) {
    const char *targets_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--targets") && i + 1 < argc) targets_path = argv[++i];
        else if (!strcmp(argv[i], "--max-pending") && i + 1 < argc) max_pending = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--handshake-timeout-ms") && i + 1 < argc)
            handshake_timeout_ms = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: wsload --targets FILE [--max-pending N] [--handshake-timeout-ms MS]\n");
            return 2;
        }
    }
    if (!targets_path) {
        fprintf(stderr, "--targets is required\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    load_targets(targets_path);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev) < 0) die("epoll_ctl stdin");
    reply("READY");
    struct epoll_event evs[1024];
    for (;;) {
        int n = epoll_wait(epfd, evs, 1024, 50);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            uint32_t id = evs[i].data.u32;
            if (id == UINT32_MAX) {
                on_stdin();
                continue;
            }
            conn_t *c = &conns[id];
            if (c->fd < 0) continue;
            if (evs[i].events & (EPOLLOUT)) on_writable(c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                if (c->state == ST_CONNECTING) on_writable(c);
                if (c->fd >= 0) on_readable(c);
            }
        }
        if (pending) expire_handshakes();
        pump_connects();
        maybe_answer();
    }
}
