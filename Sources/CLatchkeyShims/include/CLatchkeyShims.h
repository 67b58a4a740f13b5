#ifndef LATCHKEY_SHIMS_H
#define LATCHKEY_SHIMS_H
// Libc calls Swift's Glibc module hides (they need _GNU_SOURCE) or imports awkwardly (packed or union
// structs), with a `latchkey_` prefix.
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC: the accepted socket is non-blocking from birth.
int latchkey_accept_nonblocking(int fd, struct sockaddr *address, socklen_t *length);

/// The number of CPUs in the calling thread's affinity mask (sched_getaffinity(2) and CPU_COUNT, both
/// hidden from Swift), or -1 with errno set. Masks of more than 1024 CPUs are handled.
int latchkey_affinity_cpu_count(void);

// epoll (Linux). `struct epoll_event` is packed on x86-64 and carries a union: these wrappers keep both
// out of Swift. Each registration carries one 64-bit token.

/// Readiness bits as epoll reports them.
extern const uint32_t latchkey_epoll_in;
extern const uint32_t latchkey_epoll_out;
extern const uint32_t latchkey_epoll_err;
extern const uint32_t latchkey_epoll_hup;
extern const uint32_t latchkey_epoll_rdhup;

/// epoll_create1(EPOLL_CLOEXEC); -1 where epoll does not exist.
int latchkey_epoll_create(void);
/// Registers `fd` edge-triggered for input, output and peer hang-up with `token`.
int latchkey_epoll_add_edge(int epfd, int fd, uint64_t token);
/// Removes `fd` from the set.
int latchkey_epoll_remove(int epfd, int fd);
/// epoll_wait into parallel arrays (at most 256 events); returns the count, or -1 with errno.
int latchkey_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max_events, int timeout_ms);

/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); -1 where it does not exist.
int latchkey_eventfd_create(void);
/// Adds one to the eventfd counter (wakes a waiter).
void latchkey_eventfd_signal(int fd);
/// Resets the counter.
void latchkey_eventfd_drain(int fd);

/// Names the calling thread (at most 15 bytes are kept).
void latchkey_set_thread_name(const char *name);

/// writev(2) of `count` buffers with MSG_NOSIGNAL semantics (sendmsg), so a closed peer yields EPIPE,
/// never SIGPIPE.
long latchkey_sendv(int fd, const struct iovec *buffers, int count);

/// Where the release binary's code that only start-up and reloads run begins: the address of a function
/// that is never called, which `scripts/link-order` lists between the functions the request path runs
/// and those it does not (`Sources/latchkey/link-order.txt`). In other builds it is just some address
/// in the code. Read by `ColdPages`.
uintptr_t latchkey_cold_text_start(void);

/// malloc_trim(0) (glibc's <malloc.h>, which Swift's Glibc module leaves out): returns the free memory of
/// every malloc arena to the kernel. Returns 1 when some was released; 0 elsewhere than glibc.
int latchkey_malloc_trim(void);

// A small-block allocator for one nghttp2 session, as nghttp2_mem's four functions (`user_data`: the pool).
// nghttp2 allocates and frees a dozen small blocks a request (header buffers, stream and frame records);
// glibc's malloc and free cost about 40 and 90 instructions each, a free-list pop or push about ten. Blocks
// come in power-of-two classes of 32 bytes to 8 KiB behind a 16-byte header; larger ones go straight to
// malloc. Freed blocks are kept for reuse up to `cached_limit` bytes, the rest freed. One pool serves one
// session on one thread, and outlives it (destroy it after nghttp2_session_del). Under AddressSanitizer
// every call goes to malloc and free, so that nghttp2's use of freed memory is still caught.
typedef struct latchkey_block_pool latchkey_block_pool;
latchkey_block_pool *latchkey_block_pool_create(size_t cached_limit);
void latchkey_block_pool_destroy(latchkey_block_pool *pool);
/// Bytes of freed blocks the pool keeps (for tests).
size_t latchkey_block_pool_cached_bytes(const latchkey_block_pool *pool);
/// 1, or 0 when every call goes to malloc and free (AddressSanitizer builds).
int latchkey_block_pool_reuses_blocks(void);
void *latchkey_block_pool_malloc(size_t size, void *user_data);
void latchkey_block_pool_free(void *pointer, void *user_data);
void *latchkey_block_pool_calloc(size_t count, size_t size, void *user_data);
void *latchkey_block_pool_realloc(void *pointer, size_t size, void *user_data);

#endif
