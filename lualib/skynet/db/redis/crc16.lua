-- skynet.db.redis.crc16: crc16(str) -> integer, CRC-16/XMODEM (poly 0x1021,
-- init 0, no reflection, no final xor), Redis Cluster's key hash
-- (slot = crc16(key) % 16384).  Computed in C (lualib-src/lua-redisaux.c).
return require("skynet.redisaux").crc16
