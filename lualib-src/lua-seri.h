/*
 * lua-seri.h -- skynet.pack / skynet.unpack: the value serialization used by
 * every "lua" message, cluster request and harbor packet.  The byte format
 * is upstream's, byte for byte (lua-seri.c lays it out).  All four are
 * plain lua_CFunctions.
 */
#ifndef LUA_SERI_H
#define LUA_SERI_H

#include <lua.h>

/* pack(...) -> lightuserdata buf, integer size.  buf comes from
 * skynet_malloc and belongs to the caller (free with trash or hand it to
 * a send).  Zero arguments give a non-NULL buffer and size 0. */
int luaseri_pack(lua_State *L);

/* packstring(...) -> string holding the same bytes as pack(...). */
int luaseri_packstring(lua_State *L);

/* unpack(buf, size) or unpack(string) -> every decoded value.  Never frees
 * its input.  unpack() / unpack(nil) / size 0 return nothing. */
int luaseri_unpack(lua_State *L);

/* trash(buf [, size]) frees a buffer returned by pack; a string is ignored. */
int luaseri_trash(lua_State *L);

#endif
