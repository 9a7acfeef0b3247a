# Build, test and benchmark entry points.  `make help` lists them.
#
#   make          build ./skynet, cservice/*.so, luaclib/*.so
#   make run      install what is missing, build, start the default example
#   make test     install what is missing, build, run every test
#   make bench    run the benchmarks (one `name value unit` line per metric)
#   make fuzz     build and run the libFuzzer targets (FUZZ_SECONDS each)
#
# Sanitizer builds: make SANITIZE=address,undefined CC=clang (see .ci/run).
# CFLAGS from the command line or the environment are added after ours.
#
# `run`, `test` and `bench` install missing packages first and only then
# build, in a second make: this make was parsed before the install, so what
# it found on disk (the Lua library) may not have existed yet.

CC ?= gcc
LUA_INC ?= /usr/include/lua5.4
# Deferred (=): looked up when a link needs it, not when the Makefile is read.
LUA_LIB ?= $(firstword $(wildcard /usr/lib/*/liblua5.4.a /usr/lib/liblua5.4.a))

OPT ?= -O2
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -I$(LUA_INC) -Iskynet-src -MMD -MP $(CFLAGS)
ifdef SANITIZE
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDSAN := -fsanitize=$(SANITIZE)
endif
SHARED := -fPIC -shared $(LDSAN)
# Lua is linked statically and whole, and the executable exports its
# symbols (-E), so every C module shares the one Lua runtime of the process.
LUA_LINK = -Wl,--whole-archive $(LUA_LIB) -Wl,--no-whole-archive
LIBS := -lpthread -ldl -lm

CORE_SRC := $(filter-out skynet-src/skynet_main.c,$(wildcard skynet-src/*.c))
CORE_OBJ := $(patsubst skynet-src/%.c,build/core/%.o,$(CORE_SRC))
CORE_HDR := $(wildcard skynet-src/*.h)

CSERVICES := $(patsubst service-src/service_%.c,cservice/%.so,$(wildcard service-src/service_*.c))

# luaclib/skynet.so bundles skynet.core and its sibling modules;
# luaclib/bson.so, luaclib/sproto.so (sproto.core), luaclib/md5.so
# (md5.core) and luaclib/client.so stand alone.
SPROTO_SRC := $(wildcard lualib-src/lua-sproto*.c)
# sharetree.c is the store under skynet.sharetable.core and skynet.sharedata.core;
# datasheet_doc.c the document format under skynet.datasheet.core (pure C, also fuzzed).
SKYNET_LUACLIB_SRC := $(filter-out lualib-src/lua-client.c lualib-src/lua-bson.c lualib-src/lua-md5.c $(SPROTO_SRC),$(wildcard lualib-src/lua-*.c)) lualib-src/sharetree.c lualib-src/datasheet_doc.c lualib-src/crypt_des.c
# the web parsers under skynet.webcore (pure C, also linked by fuzz targets)
SKYNET_LUACLIB_SRC += lualib-src/http_parse.c lualib-src/ws_frame.c lualib-src/web_codec.c lualib-src/dns_msg.c
LUACLIBS := luaclib/skynet.so luaclib/client.so luaclib/bson.so luaclib/sproto.so luaclib/md5.so luaclib/ltls.so

# skynet.crypt, client.crypt and md5 take SHA-1, HMAC and MD5 from OpenSSL.
CRYPTO_LIBS := -lcrypto

UNIT_SRC := $(wildcard test/unit/test_*.c)
UNIT_BIN := $(patsubst test/unit/%.c,build/unit/%,$(UNIT_SRC))

.PHONY: all clean run test unit bench fuzz deps help
.SECONDARY:
all: skynet $(CSERVICES) $(LUACLIBS)

help:
	@sed -n '1,12p' Makefile

build/core/%.o: skynet-src/%.c $(CORE_HDR) | build/core
	$(CC) $(ALL_CFLAGS) -fPIC -c -o $@ $<

build/core build/unit build/lualib cservice luaclib:
	mkdir -p $@

build/libcore.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

skynet: skynet-src/skynet_main.c build/libcore.a
	$(CC) $(ALL_CFLAGS) -o $@ $< -Wl,-E -Wl,--whole-archive build/libcore.a -Wl,--no-whole-archive $(LUA_LINK) $(LIBS) $(LDSAN)

# snlua is split over several files: service_snlua.c plus snlua_*.c.
cservice/snlua.so: service-src/service_snlua.c $(wildcard service-src/snlua_*.c service-src/snlua_*.h) $(CORE_HDR) | cservice
	$(CC) $(ALL_CFLAGS) $(SHARED) -Iservice-src -o $@ service-src/service_snlua.c $(wildcard service-src/snlua_*.c)

# harbor too: service_harbor.c plus harbor_*.c (frames, names, calls).
cservice/harbor.so: service-src/service_harbor.c $(wildcard service-src/harbor_*.c service-src/harbor_*.h) $(CORE_HDR) | cservice
	$(CC) $(ALL_CFLAGS) $(SHARED) -Iservice-src -o $@ service-src/service_harbor.c $(wildcard service-src/harbor_*.c)

# metrics too: service_metrics.c plus metrics_*.c (HTTP reader, snapshot,
# formats); the console page metrics_page.html is assembled in (.incbin).
cservice/metrics.so: service-src/service_metrics.c $(wildcard service-src/metrics_*.c service-src/metrics_*.h) service-src/metrics_page.html $(CORE_HDR) | cservice
	$(CC) $(ALL_CFLAGS) $(SHARED) -Iservice-src -o $@ service-src/service_metrics.c $(wildcard service-src/metrics_*.c)

cservice/%.so: service-src/service_%.c $(CORE_HDR) $(wildcard service-src/*.h lualib-src/netpack_frame.h) | cservice
	$(CC) $(ALL_CFLAGS) $(SHARED) -Iservice-src -o $@ $<

luaclib/skynet.so: $(SKYNET_LUACLIB_SRC) $(wildcard lualib-src/*.h) $(CORE_HDR) | luaclib
	$(CC) $(ALL_CFLAGS) $(SHARED) -Ilualib-src -o $@ $(SKYNET_LUACLIB_SRC) $(CRYPTO_LIBS)

# client.socket and client.crypt for the stand-alone lua5.4 interpreter: no
# skynet core, no liblua (the interpreter exports the Lua API), no sanitizer
# runtime.
CLIENT_SRC := lualib-src/lua-client.c lualib-src/lua-crypt.c lualib-src/crypt_des.c
luaclib/client.so: $(CLIENT_SRC) lualib-src/crypt_des.h | luaclib
	$(CC) $(filter-out -fsanitize=%,$(ALL_CFLAGS)) -fPIC -shared -Ilualib-src -o $@ $(CLIENT_SRC) $(CRYPTO_LIBS)

# md5.core under lualib/md5.lua, its own .so as upstream (require "md5.core"
# looks for luaclib/md5.so).  Loaded by the stand-alone interpreter too, so
# no sanitizer runtime, as client.so.
luaclib/md5.so: lualib-src/lua-md5.c | luaclib
	$(CC) $(filter-out -fsanitize=%,$(ALL_CFLAGS)) -fPIC -shared -o $@ $< $(CRYPTO_LIBS)

# bson is its own module (require "bson"), as upstream: no skynet symbols,
# so the stand-alone lua5.4 interpreter can load it too.
luaclib/bson.so: lualib-src/lua-bson.c | luaclib
	$(CC) $(ALL_CFLAGS) $(SHARED) -o $@ $< -lpthread -lm

# sproto.core, loaded both by services and by the stand-alone interpreter
# (examples/client.lua): the Lua API only, so built like client.so.
luaclib/sproto.so: $(SPROTO_SRC) lualib-src/lua-sproto.h | luaclib
	$(CC) $(filter-out -fsanitize=%,$(ALL_CFLAGS)) -fPIC -shared -o $@ $(SPROTO_SRC) -lm

# ltls is its own module (require "ltls.c"), as upstream, linked with the
# system OpenSSL (Debian libssl-dev).
luaclib/ltls.so: lualib-src/ltls.c | luaclib
	$(CC) $(ALL_CFLAGS) $(SHARED) -o $@ $< -lssl -lcrypto

# Unit tests link the core archive, the serializer and Lua directly.
build/lualib/%.o: lualib-src/%.c $(wildcard lualib-src/*.h) $(CORE_HDR) | build/lualib
	$(CC) $(ALL_CFLAGS) -fPIC -Ilualib-src -c -o $@ $<

build/unit/%: test/unit/%.c test/unit/unit.h build/libcore.a build/lualib/lua-seri.o | build/unit
	$(CC) $(ALL_CFLAGS) -Ilualib-src -o $@ $< build/lualib/lua-seri.o -Wl,-E -Wl,--whole-archive build/libcore.a -Wl,--no-whole-archive $(LUA_LINK) $(LIBS) $(LDSAN)

# The Lua heap lives in snlua.so, not in the core: its test links the heap
# sources directly (and stubs the one core function they call).
build/unit/test_snlua_heap: test/unit/test_snlua_heap.c test/unit/unit.h $(wildcard service-src/snlua_heap.* service-src/snlua_pages.*) $(CORE_HDR) | build/unit
	$(CC) $(ALL_CFLAGS) -Iservice-src -o $@ $< service-src/snlua_heap.c service-src/snlua_pages.c -lpthread $(LDSAN)

# The metrics endpoint's HTTP reader lives in metrics.so: linked directly.
build/unit/test_metrics_http: test/unit/test_metrics_http.c test/unit/unit.h $(wildcard service-src/metrics_http.*) $(CORE_HDR) | build/unit
	$(CC) $(ALL_CFLAGS) -Iservice-src -o $@ $< service-src/metrics_http.c $(LDSAN)

# The metrics service's snapshot and writers, linked directly with the core.
build/unit/test_metrics_collect: test/unit/test_metrics_collect.c test/unit/unit.h $(wildcard service-src/metrics_collect.* service-src/metrics_format.*) build/libcore.a build/lualib/lua-seri.o | build/unit
	$(CC) $(ALL_CFLAGS) -Iservice-src -o $@ $< service-src/metrics_collect.c service-src/metrics_format.c build/lualib/lua-seri.o -Wl,-E -Wl,--whole-archive build/libcore.a -Wl,--no-whole-archive $(LUA_LINK) $(LIBS) $(LDSAN)

unit: $(UNIT_BIN)

deps:
	@tools/install-deps.sh

# The default node is the KV database example (user notes, section 一).
RUN_CONFIG ?= examples/config
run: deps
	@$(MAKE) --no-print-directory all
	./skynet $(RUN_CONFIG)

test: deps
	@$(MAKE) --no-print-directory all unit
	@test/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh

FUZZ_SECONDS ?= 60
fuzz: deps
	@fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build skynet skynet.d cservice luaclib fuzz/bin

# Header dependencies written by -MMD (objects built straight from a .c into
# a .so or an executable leave their .d beside the output).
-include $(wildcard build/*/*.d cservice/*.d luaclib/*.d build/unit/*.d *.d)
