/*
 * lua-sproto-buf.c -- growable scratch buffers for sproto.core.
 *
 * The block is owned by a full userdata (a "box") with a __gc, so when a
 * Lua error unwinds through an encoder half-way (a bad field value, an
 * erroring __index) the block is collected with the box instead of leaking.
 * Blocks come from the Lua state's allocator, so they count towards the
 * service's memory (and its limit).  sproto.core keeps one box per
 * function as an upvalue and reuses it across calls.
 */
#include "lua-sproto.h"

#include <lauxlib.h>

#define BOX_META "sproto.core.buf"
#define BUF_MIN 256
/* The hard cap of a scratch block: the largest message plus room for the
 * encoder's temporary header reservation and the packer's overhead; what
 * a caller may actually produce is checked against SPROTO_MAX_SIZE. */
#define BUF_LIMIT ((size_t)SPROTO_MAX_SIZE + (1u << 20))

struct box {
	uint8_t *ptr;
	size_t cap;
};

static int box_gc(lua_State *L) {
	struct box *box = lua_touserdata(L, 1);
	if (box->ptr) {
		void *ud;
		lua_Alloc f = lua_getallocf(L, &ud);
		f(ud, box->ptr, box->cap, 0);
		box->ptr = NULL;
		box->cap = 0;
	}
	return 0;
}

void sproto_box_push(lua_State *L) {
	struct box *box = lua_newuserdatauv(L, sizeof(*box), 0);
	box->ptr = NULL;
	box->cap = 0;
	if (luaL_newmetatable(L, BOX_META)) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
}

void sproto_buf_init(struct sproto_buf *b, lua_State *L, int idx) {
	struct box *box = lua_touserdata(L, idx);
	b->L = L;
	b->box = box;
	b->ptr = box->ptr;
	b->cap = box->cap;
	b->len = 0;
}

void sproto_buf_grow(struct sproto_buf *b, size_t n) {
	if (n > BUF_LIMIT - b->len)
		luaL_error(b->L, "object is too large (>%d)", SPROTO_MAX_SIZE);
	size_t need = b->len + n;
	size_t cap = b->cap < BUF_MIN ? BUF_MIN : b->cap;
	while (cap < need)
		cap *= 2;
	if (cap > BUF_LIMIT)
		cap = BUF_LIMIT;
	struct box *box = b->box;
	void *ud;
	lua_Alloc f = lua_getallocf(b->L, &ud);
	uint8_t *p = f(ud, box->ptr, box->cap, cap);
	if (p == NULL)
		luaL_error(b->L, "not enough memory for a %d-byte sproto buffer", (int)cap);
	box->ptr = p;
	box->cap = cap;
	b->ptr = p;
	b->cap = cap;
}
