#ifndef LATCHKEY_SHIMS_H
#define LATCHKEY_SHIMS_H
// Libc calls Swift's Glibc module hides (they need _GNU_SOURCE), with a `latchkey_` prefix.
#include <sys/socket.h>

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC: the accepted socket is non-blocking from birth.
int latchkey_accept_nonblocking(int fd, struct sockaddr *address, socklen_t *length);

#endif
