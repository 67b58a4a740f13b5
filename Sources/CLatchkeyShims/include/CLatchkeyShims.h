#ifndef LATCHKEY_SHIMS_H
#define LATCHKEY_SHIMS_H
// Libc calls Swift's Glibc module hides (they need _GNU_SOURCE), with a `latchkey_` prefix.
#include <sys/socket.h>

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC: the accepted socket is non-blocking from birth.
int latchkey_accept_nonblocking(int fd, struct sockaddr *address, socklen_t *length);

/// The number of CPUs in the calling thread's affinity mask (sched_getaffinity(2) and CPU_COUNT, both
/// hidden from Swift), or -1 with errno set. Masks of more than 1024 CPUs are handled.
int latchkey_affinity_cpu_count(void);

#endif
