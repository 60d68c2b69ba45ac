// N subscribers of one event stream, in one epoll loop: the load generator for bench/run.py's
// "1,000 subscribers" figures. Written in C so that the client is not what is measured (a Python
// asyncio client spends ~30 µs a read and falls seconds behind 1,000 streams).
//
//   subscribers HOST PORT PATH COUNT [1.1|1.0]
//
// All COUNT clients connect at once and send `GET PATH HTTP/1.1` as a browser does (a chunked
// body; with `1.0` no framing, the body ends at close). Each reads NDJSON lines and checks that
// seqs arrive in order from the first one without a gap.
//
// Latency. For every event line the client keeps its ts and the read that completed it; for every
// read, when this process read it and when its bytes arrived: the kernel stamps each segment as it
// is queued on the client's socket (SO_TIMESTAMPNS; a read reports its newest segment's stamp).
// Over loopback that is when the server's send ran, so arrival − emit is the server's latency and
// the client's own scheduling is not in it; read − arrival (the client's lag) is reported beside.
// The client does nothing per line but a prefix compare, two numbers and one 8-byte record: on 2
// shared cores its CPU is the server's CPU. The run's start on the monotonic clock is estimated as
// the earliest (arrival − ts) over all events, so every latency is measured from the fastest
// delivery (a slight underestimate). Only events emitted after the last client received its first
// bytes are counted (the history every client replays first is not live). Prints one JSON object:
//   {"counts": [events per client], "refused": non-200 answers, "ordered": clients whose seqs were
//    gapless and in order, "samples", "attachMs", "p50Ms"/"p99Ms"/"maxMs" (emit → arrival),
//    "readP50Ms"/"readP99Ms"/"readMaxMs" (emit → read), "lagP99Ms" (arrival → read), "reads",
//    "stamped" (reads with a kernel stamp), "clientCpuMs", "wallMs", "liveRate" (events/s emitted
//    while all were attached), "clientWaitMs" (time this client was runnable but waiting for a CPU)}
// SUBSCRIBERS_DEBUG=1 prints when some clients connected and got their first bytes, and the worst
// latencies per 250 ms of emission time.
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
#include <sys/mman.h>
#include <sys/resource.h>
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
static client_t *clients_base;  // for messages
static int refused;  // responses other than 200

// What the latency pass at the end needs, kept cheaply while reading: for every read, when this
// process read it and when its bytes arrived ("arrival": when the kernel queued them on the
// client's socket, SO_TIMESTAMPNS of the newest segment in the read); for every event line, its
// ts and the read that completed it. Arrival − emit is the server's latency (and loopback's);
// read − arrival is this client's own lag behind its sockets.
typedef struct { int32_t ts_us; uint32_t read; } sample_t;
static sample_t *sample;  // a large reserved mapping: pages are touched as they fill, never moved
static size_t samples, sample_cap;
static int64_t *read_ns, *arrive_ns;
static size_t reads, read_cap;
static long stamped;  // reads the kernel timestamped
static int64_t realtime_offset;  // CLOCK_REALTIME − CLOCK_MONOTONIC, for the kernel's timestamps

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void note_read(int64_t now, int64_t arrival) {
    if (reads == read_cap) {
        read_cap = read_cap ? read_cap * 2 : 1 << 16;
        read_ns = realloc(read_ns, read_cap * sizeof *read_ns);
        arrive_ns = realloc(arrive_ns, read_cap * sizeof *arrive_ns);
        if (!read_ns || !arrive_ns) { perror("realloc"); exit(1); }
    }
    read_ns[reads] = now;
    arrive_ns[reads] = arrival ? arrival : now;
    reads++;
}

static void record(long ts) {
    if (samples == sample_cap) { fprintf(stderr, "more than %zu event lines\n", sample_cap); exit(1); }
    sample[samples].ts_us = (int32_t)ts;
    sample[samples].read = (uint32_t)(reads - 1);
    samples++;
}

// The digits after `name` at `*at` (which moves past them), or -1. Every line starts
// `{"seq":N,"ts":N,` (the contract's field order), so this is a compare and a few digits — the
// client must cost little per line, or it falls behind 1,000 streams and measures itself.
static long field(const char *line, size_t len, size_t *at, const char *name, size_t name_len) {
    if (*at + name_len > len || memcmp(line + *at, name, name_len) != 0) return -1;
    size_t i = *at + name_len;
    long value = 0;
    if (i >= len || line[i] < '0' || line[i] > '9') return -1;
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) value = value * 10 + (line[i] - '0');
    *at = i;
    return value;
}

// One complete line (without its newline).
static void line(client_t *c, const char *text, size_t len, int64_t now) {
    if (len == 0 || text[0] != '{') return;  // heartbeat
    size_t at = 0;
    long seq = field(text, len, &at, "{\"seq\":", 7);
    long ts = seq < 0 ? -1 : field(text, len, &at, ",\"ts\":", 6);
    if (ts < 0 || seq != c->next_seq) {
        // Not an event line as the contract has it, or a gap: say which, once per client.
        if (c->ordered)
            fprintf(stderr, "client %d: expected seq %ld, got %.*s\n", (int)(c - clients_base), c->next_seq,
                    (int)(len < 80 ? len : 80), text);
        c->ordered = 0;
        if (ts < 0) return;
    }
    c->next_seq = seq + 1;
    c->events++;
    (void)now;
    record(ts);
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

// This process's time waiting for a CPU (run-queue delay, /proc/self/schedstat), in ns: on 2 cores
// shared with the server and other work, part of every hop's latency is this wait.
static int64_t run_delay_ns(void) {
    FILE *f = fopen("/proc/self/schedstat", "r");
    long long on_cpu = 0, waited = 0;
    if (!f) return -1;
    if (fscanf(f, "%lld %lld", &on_cpu, &waited) != 2) waited = -1;
    fclose(f);
    return waited;
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
    clients_base = clients;
    int ep = epoll_create1(0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    char request[1024];
    int request_len = snprintf(request, sizeof request, "GET %s HTTP/1.%d\r\nHost: %s:%d\r\n%s\r\n", path,
                               chunked, host, port, chunked ? "Connection: close\r\n" : "");
    {
        struct timespec r, m1, m2;
        clock_gettime(CLOCK_MONOTONIC, &m1);
        clock_gettime(CLOCK_REALTIME, &r);
        clock_gettime(CLOCK_MONOTONIC, &m2);
        realtime_offset = (int64_t)r.tv_sec * 1000000000 + r.tv_nsec
            - ((int64_t)m1.tv_sec * 1000000000 + m1.tv_nsec + (int64_t)m2.tv_sec * 1000000000 + m2.tv_nsec) / 2;
    }
    // Room for 256 M event lines, reserved, not committed: pages are touched only as they fill.
    sample_cap = (size_t)1 << 28;
    sample = mmap(NULL, sample_cap * sizeof *sample, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                  -1, 0);
    if (sample == MAP_FAILED) { perror("mmap"); return 1; }
    int debug = getenv("SUBSCRIBERS_DEBUG") != NULL;
    int64_t waited_before = run_delay_ns();
    int64_t attach_start = now_ns();
    for (int i = 0; i < count; i++) {
        client_t *c = &clients[i];
        c->ordered = 1;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) { perror("socket"); return 1; }
        int on = 1;  // the kernel stamps each segment's arrival
        setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
        // A receive buffer big enough for this client to fall behind without pushing back: this
        // client shares the server's 2 cores and is not always scheduled, and a full window would
        // hold the server's sends back and put the client's own delays into the arrival stamps.
        // (Memory is only used as far as the client lags.)
        int rcvbuf = 4 << 20;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
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
                struct iovec iov = {.iov_base = buffer, .iov_len = sizeof buffer};
                union { char space[CMSG_SPACE(sizeof(struct timespec))]; struct cmsghdr align; } control;
                struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                                     .msg_controllen = sizeof control.space};
                ssize_t got = recvmsg(c->fd, &msg, 0);
                if (got > 0) {
                    int64_t now = now_ns(), arrival = 0;
                    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
                            struct timespec t;
                            memcpy(&t, CMSG_DATA(cm), sizeof t);
                            arrival = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec - realtime_offset;
                            stamped++;
                        }
                    }
                    note_read(now, arrival);
                    consume(c, buffer, (size_t)got, now);
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
    int64_t end_ns = now_ns();
    struct rusage usage;  // the CPU the streaming took (not the latency pass below)
    getrusage(RUSAGE_SELF, &usage);
    int64_t waited = run_delay_ns() - waited_before;
    // The run's start on the monotonic clock: the earliest (arrival − ts) over all events, so every
    // latency is measured from the fastest delivery (a slight underestimate, by that delivery's).
    int64_t start = INT64_MAX, live_from = 0;
    for (size_t i = 0; i < samples; i++) {
        int64_t s = arrive_ns[sample[i].read] - (int64_t)sample[i].ts_us * 1000;
        if (s < start) start = s;
    }
    if (debug) {
        for (int i = 0; i < count; i += count / 20 ? count / 20 : 1)
            fprintf(stderr, "client %d: connected +%.1f ms, first bytes +%.1f ms\n", i,
                    (clients[i].sent_ns - attach_start) / 1e6, (clients[i].first_ns - attach_start) / 1e6);
    }
    int ordered = 0;
    for (int i = 0; i < count; i++) {
        if (clients[i].first_ns > live_from) live_from = clients[i].first_ns;
        ordered += clients[i].ordered && clients[i].header_done;
    }
    // Only events emitted after the last client received its first bytes: arrival − emit
    // (the server's latency), read − emit (what this process saw), read − arrival (its lag).
    size_t live = 0;
    int64_t first_live = INT64_MAX, last_live = 0;  // emission times of the live events
    for (size_t i = 0; i < samples; i++)
        if (start + (int64_t)sample[i].ts_us * 1000 >= live_from) live++;
    size_t room = live ? live : 1;
    int64_t *arrived = malloc(room * sizeof *arrived), *seen = malloc(room * sizeof *seen);
    int64_t *lag = malloc(room * sizeof *lag), *since = malloc(room * sizeof *since);
    if (!arrived || !seen || !lag || !since) { perror("malloc"); return 1; }
    live = 0;
    for (size_t i = 0; i < samples; i++) {
        int64_t emitted = start + (int64_t)sample[i].ts_us * 1000;
        if (emitted < live_from) continue;
        if (emitted < first_live) first_live = emitted;
        if (emitted > last_live) last_live = emitted;
        uint32_t r = sample[i].read;
        since[live] = (emitted - live_from) / 1000;  // µs after live_from
        arrived[live] = arrive_ns[r] - emitted;
        seen[live] = read_ns[r] - emitted;
        lag[live] = read_ns[r] - arrive_ns[r];
        live++;
    }
    if (debug && live) {
        // Per 250 ms of emission time: deliveries and the max arrival / read latency.
        int64_t last = 0;
        for (size_t i = 0; i < live; i++) if (since[i] > last) last = since[i];
        int windows = (int)(last / 250000) + 1;
        int64_t *amax = calloc((size_t)windows, sizeof *amax), *rmax = calloc((size_t)windows, sizeof *rmax);
        long *n = calloc((size_t)windows, sizeof *n);
        for (size_t i = 0; i < live; i++) {
            int w = (int)(since[i] / 250000);
            n[w]++;
            if (arrived[i] > amax[w]) amax[w] = arrived[i];
            if (seen[i] > rmax[w]) rmax[w] = seen[i];
        }
        for (int w = 0; w < windows; w++)
            fprintf(stderr, "emitted +%5d ms: %8ld deliveries, max arrival %7.1f ms, max read %7.1f ms\n", w * 250, n[w],
                    amax[w] / 1e6, rmax[w] / 1e6);
    }
    qsort(arrived, live, sizeof *arrived, cmp64);
    qsort(seen, live, sizeof *seen, cmp64);
    qsort(lag, live, sizeof *lag, cmp64);
#define PCT(a, q) (live ? (a)[(size_t)((double)(live - 1) * (q))] / 1e6 : -1.0)
    double cpu_ms = usage.ru_utime.tv_sec * 1e3 + usage.ru_utime.tv_usec / 1e3 + usage.ru_stime.tv_sec * 1e3
        + usage.ru_stime.tv_usec / 1e3;
    printf("{\"counts\":[");
    for (int i = 0; i < count; i++) printf("%s%ld", i ? "," : "", clients[i].events);
    printf("],\"refused\":%d,\"ordered\":%d,\"samples\":%zu,\"attachMs\":%.1f,"
           "\"p50Ms\":%.3f,\"p99Ms\":%.3f,\"maxMs\":%.3f,"
           "\"readP50Ms\":%.3f,\"readP99Ms\":%.3f,\"readMaxMs\":%.3f,\"lagP99Ms\":%.3f,"
           "\"reads\":%zu,\"stamped\":%ld,\"clientCpuMs\":%.0f,\"wallMs\":%.0f,\"liveRate\":%.0f,"
           "\"clientWaitMs\":%.0f}\n",
           refused, ordered, live, (live_from - attach_start) / 1e6,
           PCT(arrived, 0.5), PCT(arrived, 0.99), PCT(arrived, 1.0),
           PCT(seen, 0.5), PCT(seen, 0.99), PCT(seen, 1.0), PCT(lag, 0.99),
           reads, stamped, cpu_ms, (end_ns - attach_start) / 1e6,
           last_live > first_live ? (double)live / count / ((last_live - first_live) / 1e9) : 0.0,
           waited / 1e6);
    return 0;
}
