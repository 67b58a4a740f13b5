#define _GNU_SOURCE
#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "CLatchkeyShims.h"
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif

int latchkey_accept_nonblocking(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int latchkey_affinity_cpu_count(void) {
#ifdef __linux__
    // Start at glibc's fixed cpu_set_t (1024 CPUs); the kernel answers EINVAL while the set is smaller
    // than its own mask, so grow until it fits.
    for (int cpus = CPU_SETSIZE; cpus <= (1 << 20); cpus *= 2) {
        cpu_set_t *set = CPU_ALLOC(cpus);
        if (set == NULL) return -1;
        size_t size = CPU_ALLOC_SIZE(cpus);
        CPU_ZERO_S(size, set);
        if (sched_getaffinity(0, size, set) == 0) {
            int count = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return count;
        }
        int error = errno;
        CPU_FREE(set);
        if (error != EINVAL) {
            errno = error;
            return -1;
        }
    }
    errno = EINVAL;
    return -1;
#else
    errno = ENOSYS;
    return -1;
#endif
}

#ifdef __linux__
const uint32_t latchkey_epoll_in = EPOLLIN;
const uint32_t latchkey_epoll_out = EPOLLOUT;
const uint32_t latchkey_epoll_err = EPOLLERR;
const uint32_t latchkey_epoll_hup = EPOLLHUP;
const uint32_t latchkey_epoll_rdhup = EPOLLRDHUP;

int latchkey_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int latchkey_epoll_add_edge(int epfd, int fd, uint64_t token) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = token;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

int latchkey_epoll_remove(int epfd, int fd) {
    struct epoll_event unused;
    memset(&unused, 0, sizeof unused);
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &unused);
}

int latchkey_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max_events, int timeout_ms) {
    struct epoll_event ready[256];
    if (max_events > 256) max_events = 256;
    int count = epoll_wait(epfd, ready, max_events, timeout_ms);
    for (int i = 0; i < count; i++) {
        tokens[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}

int latchkey_eventfd_create(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void latchkey_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t written = write(fd, &one, sizeof one);
    (void)written;  // EAGAIN means the counter is already non-zero: the waiter wakes anyway
}

void latchkey_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t got = read(fd, &value, sizeof value);
    (void)got;
}
#else
const uint32_t latchkey_epoll_in = 0, latchkey_epoll_out = 0, latchkey_epoll_err = 0;
const uint32_t latchkey_epoll_hup = 0, latchkey_epoll_rdhup = 0;
int latchkey_epoll_create(void) { errno = ENOSYS; return -1; }
int latchkey_epoll_add_edge(int epfd, int fd, uint64_t token) { errno = ENOSYS; return -1; }
int latchkey_epoll_remove(int epfd, int fd) { errno = ENOSYS; return -1; }
int latchkey_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max_events, int timeout_ms) {
    errno = ENOSYS;
    return -1;
}
int latchkey_eventfd_create(void) { errno = ENOSYS; return -1; }
void latchkey_eventfd_signal(int fd) {}
void latchkey_eventfd_drain(int fd) {}
#endif

void latchkey_set_thread_name(const char *name) {
#ifdef __linux__
    char shortened[16];
    strncpy(shortened, name, sizeof shortened - 1);
    shortened[sizeof shortened - 1] = 0;
    pthread_setname_np(pthread_self(), shortened);
#endif
}

long latchkey_sendv(int fd, const struct iovec *buffers, int count) {
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = (struct iovec *)buffers;
    message.msg_iovlen = count;
    return sendmsg(fd, &message, MSG_NOSIGNAL);
}

// Its own section, so the linker's ordering file can place it (function sections are off for C here).
__attribute__((noinline, used, section(".text.latchkey_cold_text_marker")))
void latchkey_cold_text_marker(void) {}

uintptr_t latchkey_cold_text_start(void) {
    return (uintptr_t)&latchkey_cold_text_marker;
}

int latchkey_malloc_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}
