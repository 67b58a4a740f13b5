#ifndef LATCHKEY_CHIREDIS_SHIM_H
#define LATCHKEY_CHIREDIS_SHIM_H
// Only the protocol half of hiredis is used: `redisFormatCommandArgv` to encode commands and the
// `redisReader` to decode replies. Latchkey's own loops and sockets (and LatchkeyTLS for rediss://)
// carry the bytes: Debian 12's hiredis 0.14 has no TLS support at all (hiredis_ssl arrived in 1.0).
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#endif
