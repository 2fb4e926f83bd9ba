# Makefile - build cellucidfs, run its tests, the demo and the benchmarks.
#
#   make             build ./cellucidfs
#   make test        install what is missing, build, run every test (also under ASan/UBSan)
#   make demo        build, generate a demo dataset, mount it, serve it with nginx
#   make demo-stop   undo make demo
#   make install     binary and man page under PREFIX (default /usr/local)

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
OPT     ?= -O2 -g
SAN     ?=
PKGS    := fuse3 hdf5-serial libcjson libdeflate liblzf

CPPFLAGS += -D_GNU_SOURCE -Ianndata -Icodec -Ifs $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS   += -std=c11 -Wall -Wextra $(OPT) $(SAN) -pthread
LDFLAGS  += $(SAN) -pthread
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

# fs/ holds the FUSE-free export engine and the thin FUSE glue (these files).
FUSE_SRC   := fs/ll.c fs/ll_inode.c fs/ll_status.c fs/ll_version.c fs/main.c
ENGINE_SRC := $(filter-out $(FUSE_SRC),$(wildcard fs/*.c))
LIB_SRC    := $(wildcard anndata/*.c) $(wildcard codec/*.c) $(ENGINE_SRC)
LIB_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
FUSE_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(FUSE_SRC))
UNIT_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
TOOLS      := $(BUILD)/gen-h5ad $(BUILD)/deflate-floor

.PHONY: all deps build check test asan demo demo-stop bench install clean
all: cellucidfs

# Copied by rename: a running daemon keeps its old binary (cp would fail with
# "Text file busy").
cellucidfs: $(BUILD)/cellucidfs
	@cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/cellucidfs: $(FUSE_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(LIB_OBJ) tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(TOOLS): $(BUILD)/%: scripts/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# It reads the gene files with the project's own gzip reader.
$(BUILD)/deflate-floor: $(BUILD)/codec/gz.o

deps:
	@./scripts/install-deps.sh

build: cellucidfs $(UNIT_TESTS) $(TOOLS)

# The sanitizer build lives in build/asan; tests/run.sh runs the unit tests and
# one mount with it.
asan:
	$(MAKE) BUILD=build/asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" OPT="-O1 -g" build/asan/cellucidfs $(patsubst $(BUILD)/%,build/asan/%,$(UNIT_TESTS))

check: build asan
	@bash tests/run.sh

test: deps
	@$(MAKE) --no-print-directory check

demo: deps
	@$(MAKE) --no-print-directory cellucidfs $(TOOLS)
	@bash scripts/demo.sh start

demo-stop:
	@bash scripts/demo.sh stop

bench: deps
	@$(MAKE) --no-print-directory cellucidfs $(TOOLS)
	@bash scripts/bench.sh

install: cellucidfs
	install -D -m 0755 cellucidfs $(DESTDIR)$(PREFIX)/bin/cellucidfs
	install -D -m 0644 man/cellucidfs.1 $(DESTDIR)$(PREFIX)/share/man/man1/cellucidfs.1
	install -d $(DESTDIR)$(PREFIX)/share/cellucidfs/preview
	install -m 0644 scripts/preview/* $(DESTDIR)$(PREFIX)/share/cellucidfs/preview/
	install -D -m 0644 scripts/nginx/cellucid.conf $(DESTDIR)$(PREFIX)/share/cellucidfs/nginx/cellucid.conf

clean:
	rm -rf build cellucidfs
