/*
 * Floor of PBS garbage collection on a datastore: the system calls a GC cannot avoid, with nothing else.
 * Compiled by GarbageCollectionBench at run time (cc -O2) into the bench output directory.
 *
 *   gcfloor <store> 1   phase 1: walk the store (skipping dot entries), read every *.fidx / *.didx whole,
 *                       de-duplicate the digests in a hash set, one utimensat(UTIME_NOW) per unique chunk.
 *   gcfloor <store> 2   phase 2: for each .chunks/xxxx directory, readdir + fstatat(AT_SYMLINK_NOFOLLOW) of every
 *                       entry.
 *
 * Prints the elapsed seconds (CLOCK_MONOTONIC, excluding process start) and the CPU seconds (user + system) on
 * stdout, and the work done ("touched N files M") on stderr, so the caller can check that both sides did the same
 * amount of work.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DIGEST 32
#define SLOT (DIGEST + 1)

static unsigned char *table;
static size_t cap, used;
static int chunks_fd;
static unsigned long touched, files;

static void die(const char *what, const char *name) {
    fprintf(stderr, "gcfloor: %s %s failed\n", what, name);
    exit(1);
}

static int insert(const unsigned char *d) {
    size_t h;
    memcpy(&h, d + 8, sizeof h); /* digests are uniformly distributed: any 8 bytes are a hash */
    for (h &= cap - 1;; h = (h + 1) & (cap - 1)) {
        unsigned char *slot = table + h * SLOT;
        if (!slot[DIGEST]) { memcpy(slot, d, DIGEST); slot[DIGEST] = 1; used++; return 1; }
        if (!memcmp(slot, d, DIGEST)) return 0;
    }
}

static void grow(void) {
    unsigned char *old = table;
    size_t oldcap = cap;
    cap = cap ? cap * 2 : 1 << 16;
    used = 0;
    table = calloc(cap, SLOT);
    if (!table) die("calloc", "");
    for (size_t i = 0; i < oldcap; i++)
        if (old[i * SLOT + DIGEST]) insert(old + i * SLOT);
    free(old);
}

static void touch(const unsigned char *d) {
    static const char hex[] = "0123456789abcdef";
    char path[70];
    for (int i = 0; i < DIGEST; i++) { path[5 + 2 * i] = hex[d[i] >> 4]; path[6 + 2 * i] = hex[d[i] & 15]; }
    memcpy(path, path + 5, 4);
    path[4] = '/';
    path[69] = 0;
    struct timespec t[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };
    if (utimensat(chunks_fd, path, t, AT_SYMLINK_NOFOLLOW) == 0) touched++;
}

static void mark_index(int dirfd, const char *name, int dynamic) {
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) die("open", name);
    unsigned char *buf = malloc(st.st_size);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, st.st_size - got);
        if (n <= 0) break;
        got += n;
    }
    close(fd);
    /* 4096-byte header; entries are 32-byte digests (fidx) or 8-byte offset + digest (didx). */
    size_t stride = dynamic ? 40 : 32;
    for (size_t off = 4096 + stride - DIGEST; off + DIGEST <= got; off += stride) {
        if (used * 2 >= cap) grow();
        if (insert(buf + off)) touch(buf + off);
    }
    free(buf);
}

static void walk(int fd) {
    DIR *d = fdopendir(fd);
    struct dirent *e;
    if (!d) die("fdopendir", "");
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        const char *dot = strrchr(e->d_name, '.');
        if (dot && (!strcmp(dot, ".fidx") || !strcmp(dot, ".didx"))) mark_index(dirfd(d), e->d_name, dot[1] == 'd');
        else if (e->d_type == DT_DIR) walk(openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    closedir(d);
}

static void sweep(void) {
    for (int i = 0; i < 65536; i++) {
        char name[5];
        snprintf(name, sizeof name, "%04x", i);
        int fd = openat(chunks_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) continue;
        DIR *d = fdopendir(fd);
        struct dirent *e;
        struct stat st;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            if (!fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW)) files++;
        }
        closedir(d);
    }
}

int main(int argc, char **argv) {
    if (argc != 3 || (argv[2][0] != '1' && argv[2][0] != '2')) {
        fprintf(stderr, "usage: gcfloor <store> 1|2\n");
        return 2;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int store = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (store < 0) die("open", argv[1]);
    chunks_fd = openat(store, ".chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (chunks_fd < 0) die("open", ".chunks");
    if (argv[2][0] == '1') { grow(); walk(store); }
    else sweep();
    clock_gettime(CLOCK_MONOTONIC, &b);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%.6f %.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
           ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    fprintf(stderr, "touched %lu files %lu\n", touched, files);
    return 0;
}
