// N subscribers of one event stream, in one epoll loop: the load generator for bench/run.py's
// "1,000 subscribers" figures. Written in C so that the client is not what is measured (a Python
// asyncio client spends ~30 µs a read and falls seconds behind 1,000 streams).
//
//   subscribers HOST PORT PATH COUNT [1.1|1.0]
//
// All COUNT clients connect at once and send `GET PATH HTTP/1.1` as a browser does (a chunked
// body; with `1.0` no framing, the body ends at close). Each reads NDJSON lines, checks that seqs
// arrive in order from the first one without a gap, and notes for every event the monotonic time
// its line was read. Prints one JSON object:
//   {"counts": [events per client], "refused": non-200 answers, "ordered": clients whose seqs were
//    gapless and in order, "p50Ms", "p99Ms", "maxMs", "samples", "attachMs"}
// Latency of an event = receive time - (run start + ts). The run's start on the monotonic clock
// is estimated as the earliest (receive - ts) seen over all events, so every latency is measured
// from the fastest delivery (a slight underestimate). Only events emitted after the last client
// received its first bytes are counted (the history every client replays first is not live).
// SUBSCRIBERS_DEBUG=1 prints when some clients connected and got their first bytes.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int header_done;
    int sent;
    int done;
    int ordered;
    long next_seq;
    long events;
    int64_t first_ns, sent_ns;
    char *partial;  // a line not yet complete (a run's last event can be large)
    size_t partial_len, partial_cap;
    // Chunked framing: 0 reading a size line, 1 in a chunk's data, 2 after it (CRLF), 3 done.
    int chunk_state;
    long chunk_left;
    int size_done;
} client_t;

static int chunked;
static int refused;  // responses other than 200

// Every event's (receive ns, ts µs), for the latency pass at the end.
static int64_t *recv_ns;
static int64_t *ts_us;
static size_t samples, sample_cap;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static long field(const char *line, size_t len, const char *name) {
    const char *hit = memmem(line, len, name, strlen(name));
    if (!hit) return -1;
    return strtol(hit + strlen(name), NULL, 10);
}

static void record(int64_t now, long ts) {
    if (samples == sample_cap) {
        sample_cap = sample_cap ? sample_cap * 2 : 1 << 20;
        recv_ns = realloc(recv_ns, sample_cap * sizeof *recv_ns);
        ts_us = realloc(ts_us, sample_cap * sizeof *ts_us);
        if (!recv_ns || !ts_us) { perror("realloc"); exit(1); }
    }
    recv_ns[samples] = now;
    ts_us[samples] = ts;
    samples++;
}

// One complete line (without its newline).
static void line(client_t *c, const char *text, size_t len, int64_t now) {
    if (len == 0 || text[0] != '{') return;  // heartbeat
    long seq = field(text, len, "\"seq\":");
    long ts = field(text, len, "\"ts\":");
    if (seq != c->next_seq) c->ordered = 0;
    c->next_seq = seq + 1;
    c->events++;
    record(now, ts);
}

static void keep(client_t *c, const char *data, size_t len) {
    if (c->partial_len + len > c->partial_cap) {
        c->partial_cap = (c->partial_len + len) * 2;
        c->partial = realloc(c->partial, c->partial_cap);
        if (!c->partial) { perror("realloc"); exit(1); }
    }
    memcpy(c->partial + c->partial_len, data, len);
    c->partial_len += len;
}

static void lines(client_t *c, char *data, size_t len, int64_t now);

// Body bytes: through the chunked framing when there is one.
static void body(client_t *c, char *data, size_t len, int64_t now) {
    if (c->chunk_state == 3) return;
    if (!chunked) { lines(c, data, len, now); return; }
    size_t i = 0;
    while (i < len) {
        switch (c->chunk_state) {
        case 0:  // hex size, maybe ";ext", then CRLF
            for (; i < len && data[i] != '\n'; i++) {
                char h = data[i];
                if (c->size_done || h == '\r') continue;
                if (h == ';') { c->size_done = 1; continue; }
                c->chunk_left = c->chunk_left * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
            }
            if (i < len) {
                i++;
                c->size_done = 0;
                c->chunk_state = c->chunk_left ? 1 : 3;
            }
            break;
        case 1: {
            size_t take = (size_t)c->chunk_left < len - i ? (size_t)c->chunk_left : len - i;
            lines(c, data + i, take, now);
            i += take;
            c->chunk_left -= (long)take;
            if (!c->chunk_left) c->chunk_state = 2;
            break;
        }
        case 2:  // the CRLF after the data
            if (data[i] == '\n') c->chunk_state = 0;
            i++;
            break;
        default:
            return;
        }
    }
}

static void consume(client_t *c, char *data, size_t len, int64_t now) {
    if (!c->header_done) {
        // Headers arrive in the first reads; keep them in `partial` until the blank line.
        size_t before = c->partial_len;
        keep(c, data, len);
        char *end = memmem(c->partial, c->partial_len, "\r\n\r\n", 4);
        if (!end) return;
        c->header_done = 1;
        size_t used = (size_t)(end + 4 - c->partial) - before;  // header bytes of this read
        int ok = !memcmp(c->partial, "HTTP/1.1 200", 12) || !memcmp(c->partial, "HTTP/1.0 200", 12);
        c->partial_len = 0;
        if (!ok) {
            // Refused (a limit, an error): it counts as a client that got nothing.
            c->ordered = 0;
            c->chunk_state = 3;
            refused++;
            return;
        }
        c->first_ns = now;
        body(c, data + used, len - used, now);
        return;
    }
    body(c, data, len, now);
}

// NDJSON body bytes: complete lines are counted, a partial one kept for the next read.
static void lines(client_t *c, char *data, size_t len, int64_t now) {
    size_t start = 0;
    if (c->partial_len) {
        char *nl = memchr(data, '\n', len);
        if (!nl) { keep(c, data, len); return; }
        keep(c, data, (size_t)(nl - data));
        line(c, c->partial, c->partial_len, now);
        c->partial_len = 0;
        start = (size_t)(nl - data) + 1;
    }
    while (start < len) {
        char *nl = memchr(data + start, '\n', len - start);
        if (!nl) { keep(c, data + start, len - start); return; }
        size_t end = (size_t)(nl - data);
        line(c, data + start, end - start, now);
        start = end + 1;
    }
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) { fprintf(stderr, "usage: subscribers HOST PORT PATH COUNT [1.0|1.1]\n"); return 2; }
    chunked = argc == 5 || strcmp(argv[5], "1.1") == 0;
    const char *host = argv[1], *path = argv[3];
    int port = atoi(argv[2]), count = atoi(argv[4]);
    client_t *clients = calloc((size_t)count, sizeof *clients);
    int ep = epoll_create1(0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    char request[1024];
    int request_len = snprintf(request, sizeof request, "GET %s HTTP/1.%d\r\nHost: %s:%d\r\n%s\r\n", path,
                               chunked, host, port, chunked ? "Connection: close\r\n" : "");
    int64_t attach_start = now_ns();
    for (int i = 0; i < count; i++) {
        client_t *c = &clients[i];
        c->ordered = 1;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) { perror("socket"); return 1; }
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) { perror("connect"); return 1; }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    int open = count;
    static char buffer[1 << 18];
    struct epoll_event events[256];
    while (open > 0) {
        int n = epoll_wait(ep, events, 256, 60000);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { fprintf(stderr, "no progress for 60 s with %d clients open\n", open); break; }
        for (int k = 0; k < n; k++) {
            client_t *c = &clients[events[k].data.u32];
            if (c->done) continue;
            if (!c->sent && (events[k].events & EPOLLOUT)) {
                if (write(c->fd, request, (size_t)request_len) != request_len) { perror("write"); return 1; }
                c->sent = 1;
                c->sent_ns = now_ns();
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = events[k].data.u32};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
            if (!(events[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) continue;
            for (;;) {
                ssize_t got = read(c->fd, buffer, sizeof buffer);
                if (got > 0) {
                    consume(c, buffer, (size_t)got, now_ns());
                    if ((size_t)got < sizeof buffer) break;
                    continue;
                }
                if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                if (got < 0 && errno == EINTR) continue;
                c->done = 1;
                open--;
                close(c->fd);
                break;
            }
        }
    }
    // Latencies of the events emitted after every client attached.
    int64_t start = INT64_MAX, live_from = 0;
    for (size_t i = 0; i < samples; i++) {
        int64_t s = recv_ns[i] - ts_us[i] * 1000;
        if (s < start) start = s;
    }
    if (getenv("SUBSCRIBERS_DEBUG")) {
        for (int i = 0; i < count; i += count / 20 ? count / 20 : 1)
            fprintf(stderr, "client %d: connected +%.1f ms, first bytes +%.1f ms\n", i,
                    (clients[i].sent_ns - attach_start) / 1e6, (clients[i].first_ns - attach_start) / 1e6);
    }
    int ordered = 0;
    for (int i = 0; i < count; i++) {
        if (clients[i].first_ns > live_from) live_from = clients[i].first_ns;
        ordered += clients[i].ordered && clients[i].header_done;
    }
    size_t live = 0;
    for (size_t i = 0; i < samples; i++) {
        if (start + ts_us[i] * 1000 >= live_from) recv_ns[live++] = recv_ns[i] - (start + ts_us[i] * 1000);
    }
    qsort(recv_ns, live, sizeof *recv_ns, cmp64);
    double p50 = live ? recv_ns[live / 2] / 1e6 : -1, p99 = live ? recv_ns[live * 99 / 100] / 1e6 : -1;
    double max = live ? recv_ns[live - 1] / 1e6 : -1;
    printf("{\"counts\":[");
    for (int i = 0; i < count; i++) printf("%s%ld", i ? "," : "", clients[i].events);
    printf("],\"refused\":%d,\"ordered\":%d,\"p50Ms\":%.3f,\"p99Ms\":%.3f,\"maxMs\":%.3f,\"samples\":%zu,\"attachMs\":%.1f}\n", refused, ordered,
           p50, p99, max, live, (live_from - attach_start) / 1e6);
    return 0;
}
