// A small-block allocator for one nghttp2 session (nghttp2_mem's four functions, see the header).
#include "CLatchkeyShims.h"

#include <stdlib.h>
#include <string.h>

// Under AddressSanitizer every call goes to malloc and free, so that a use after free inside nghttp2 is
// still caught (a cached block would hide it).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LATCHKEY_POOL_PASSTHROUGH 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(LATCHKEY_POOL_PASSTHROUGH)
#define LATCHKEY_POOL_PASSTHROUGH 1
#endif

enum {
    class_count = 9,        // usable sizes 32, 64, ... 8192 bytes
    smallest_shift = 5,     // 32 bytes
    header_size = 16,       // keeps malloc's 16-byte alignment for what follows
    direct = class_count,   // the class of a block too large for any: malloc'd and freed as it is
};

// Before every block: its class, and for a direct block its usable size.
struct block_header {
    size_t class_index;
    size_t direct_size;
};

struct free_block {
    struct free_block *next;
};

struct latchkey_block_pool {
    struct free_block *free_lists[class_count];
    size_t cached_bytes;
    size_t cached_limit;
};

static size_t class_size(size_t index) { return (size_t)1 << (index + smallest_shift); }

static size_t class_of(size_t size) {
    if (size <= class_size(0)) return 0;
    size_t index = (size_t)(64 - __builtin_clzll((unsigned long long)(size - 1))) - smallest_shift;
    return index < class_count ? index : direct;
}

static struct block_header *header_of(void *pointer) {
    return (struct block_header *)((char *)pointer - header_size);
}

latchkey_block_pool *latchkey_block_pool_create(size_t cached_limit) {
    latchkey_block_pool *pool = calloc(1, sizeof(*pool));
    if (pool) pool->cached_limit = cached_limit;
    return pool;
}

void latchkey_block_pool_destroy(latchkey_block_pool *pool) {
    if (!pool) return;
    for (size_t index = 0; index < class_count; index++) {
        struct free_block *block = pool->free_lists[index];
        while (block) {
            struct free_block *next = block->next;
            free(header_of(block));
            block = next;
        }
    }
    free(pool);
}

size_t latchkey_block_pool_cached_bytes(const latchkey_block_pool *pool) { return pool->cached_bytes; }

int latchkey_block_pool_reuses_blocks(void) {
#ifdef LATCHKEY_POOL_PASSTHROUGH
    return 0;
#else
    return 1;
#endif
}

void *latchkey_block_pool_malloc(size_t size, void *user_data) {
#ifdef LATCHKEY_POOL_PASSTHROUGH
    (void)user_data;
    return malloc(size);
#else
    latchkey_block_pool *pool = user_data;
    size_t index = class_of(size);
    if (index == direct) {
        if (size > SIZE_MAX - header_size) return NULL;
        struct block_header *header = malloc(header_size + size);
        if (!header) return NULL;
        header->class_index = direct;
        header->direct_size = size;
        return (char *)header + header_size;
    }
    struct free_block *cached = pool->free_lists[index];
    if (cached) {
        pool->free_lists[index] = cached->next;
        pool->cached_bytes -= class_size(index);
        return cached;
    }
    struct block_header *header = malloc(header_size + class_size(index));
    if (!header) return NULL;
    header->class_index = index;
    return (char *)header + header_size;
#endif
}

void latchkey_block_pool_free(void *pointer, void *user_data) {
#ifdef LATCHKEY_POOL_PASSTHROUGH
    (void)user_data;
    free(pointer);
#else
    if (!pointer) return;
    latchkey_block_pool *pool = user_data;
    struct block_header *header = header_of(pointer);
    size_t index = header->class_index;
    if (index == direct || pool->cached_bytes + class_size(index) > pool->cached_limit) {
        free(header);
        return;
    }
    struct free_block *block = pointer;
    block->next = pool->free_lists[index];
    pool->free_lists[index] = block;
    pool->cached_bytes += class_size(index);
#endif
}

void *latchkey_block_pool_calloc(size_t count, size_t size, void *user_data) {
    if (size != 0 && count > SIZE_MAX / size) return NULL;
    void *pointer = latchkey_block_pool_malloc(count * size, user_data);
    if (pointer) memset(pointer, 0, count * size);
    return pointer;
}

void *latchkey_block_pool_realloc(void *pointer, size_t size, void *user_data) {
#ifdef LATCHKEY_POOL_PASSTHROUGH
    (void)user_data;
    return realloc(pointer, size);
#else
    if (!pointer) return latchkey_block_pool_malloc(size, user_data);
    struct block_header *header = header_of(pointer);
    size_t usable = header->class_index == direct ? header->direct_size : class_size(header->class_index);
    if (size <= usable) return pointer;
    void *grown = latchkey_block_pool_malloc(size, user_data);
    if (!grown) return NULL;  // realloc's contract: the old block stays valid
    memcpy(grown, pointer, usable < size ? usable : size);
    latchkey_block_pool_free(pointer, user_data);
    return grown;
#endif
}
