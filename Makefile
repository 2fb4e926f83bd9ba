# Makefile - build cellucidfs, run its tests, the demo and the benchmarks.
#
#   make             build ./cellucidfs
#   make test        install what is missing, build, run every test (also under ASan/UBSan)
#   make demo        build, generate a demo dataset, mount it, serve it with nginx
#   make demo-stop   undo make demo
#   make install     binary, man page, preview page, nginx block and systemd
#                    units under PREFIX (default /usr/local)
#   make deb         the Debian package cellucidfs_VERSION_ARCH.deb (debian/)
#   make fuzz        build the libFuzzer target (clang-14) and run it for
#                    FUZZ_SECONDS (default 60) on a corpus seeded with the
#                    fixtures and generated files (scripts/fuzz.sh)

PREFIX  ?= /usr/local
UNITDIR ?= $(PREFIX)/lib/systemd/system
DEBDIR  ?= .
VERSION := $(shell cat VERSION)
BUILD   ?= build
CC      ?= cc
OPT     ?= -O2 -g
SAN     ?=
PKGS    := fuse3 hdf5-serial libcjson libdeflate liblzf blosc libzstd liblz4 libseccomp

CPPFLAGS += -DCELLUCIDFS_VERSION='"$(VERSION)"' -D_GNU_SOURCE -Ianndata -Icodec -Ifs $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# -ffp-contract=off: the quantiser must round a product and a sum separately,
# as the reference exporter does (codec/quant.c); no fused multiply-add.
CFLAGS   += -std=c11 -Wall -Wextra -ffp-contract=off $(OPT) $(SAN) -pthread
LDFLAGS  += $(SAN) -pthread
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lbz2 -lm

# fs/ holds the FUSE-free export engine and the thin FUSE glue (these files).
FUSE_SRC   := fs/ll.c fs/ll_inode.c fs/ll_members.c fs/ll_status.c fs/ll_version.c fs/main.c
ENGINE_SRC := $(filter-out $(FUSE_SRC),$(wildcard fs/*.c))
LIB_SRC    := $(wildcard anndata/*.c) $(wildcard codec/*.c) $(ENGINE_SRC)
LIB_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
FUSE_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(FUSE_SRC))
UNIT_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
TOOLS      := $(BUILD)/gen-h5ad $(BUILD)/deflate-floor

.PHONY: all deps build check test asan fuzz fuzz-build demo demo-stop bench install deb clean
all: cellucidfs

# Copied by rename: a running daemon keeps its old binary (cp would fail with
# "Text file busy").
cellucidfs: $(BUILD)/cellucidfs
	@cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/cellucidfs: $(FUSE_OBJ) $(LIB_OBJ) | $(BUILD)/version-checked
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c $(wildcard */*.h) VERSION
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(LIB_OBJ) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# zlib is the second inflater and the size reference of gzrle's test only.
$(BUILD)/tests/test_gzrle: LDLIBS += -lz

# VERSION is the version; the man page and the package's changelog must say
# the same, or nothing is built.
$(BUILD)/version-checked: VERSION man/cellucidfs.1 debian/changelog
	@grep '^\.TH ' man/cellucidfs.1 | grep -qF '"cellucidfs $(VERSION)"' || \
		{ echo "man/cellucidfs.1: the .TH line does not name cellucidfs $(VERSION) (VERSION)" >&2; exit 1; }
	@head -1 debian/changelog | grep -qF 'cellucidfs ($(VERSION))' || \
		{ echo "debian/changelog: the top entry is not version $(VERSION) (VERSION)" >&2; exit 1; }
	@mkdir -p $(dir $@) && touch $@

$(TOOLS):
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

$(BUILD)/gen-h5ad: $(wildcard scripts/gen-h5ad/*.c) $(wildcard scripts/gen-h5ad/*.h)

# It reads the gene files with the project's own gzip reader, makes them
# again with the daemon's call and with zlib.
$(BUILD)/deflate-floor: scripts/deflate-floor.c $(BUILD)/codec/gz.o $(BUILD)/codec/gzrle.o
$(BUILD)/deflate-floor: LDLIBS += -lz

deps:
	@./scripts/install-deps.sh

build: cellucidfs $(UNIT_TESTS) $(TOOLS)

# The sanitizer build lives in build/asan; tests/run.sh runs the unit tests and
# one mount with it.
asan:
	$(MAKE) BUILD=build/asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" OPT="-O1 -g" build/asan/cellucidfs $(patsubst $(BUILD)/%,build/asan/%,$(UNIT_TESTS))

# The fuzz build: every library object instrumented for libFuzzer, ASan and
# UBSan, in build/fuzz, linked with the target in tests/fuzz/.
FUZZ_CC     ?= clang-14
FUZZ_SAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 60
fuzz-build:
	$(MAKE) BUILD=build/fuzz CC=$(FUZZ_CC) OPT="-O1 -g" \
		SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" build/fuzz/fuzz_open

$(BUILD)/fuzz_open: tests/fuzz/fuzz_open.c $(LIB_OBJ)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $^ $(LDLIBS)

fuzz: deps fuzz-build $(BUILD)/gen-h5ad
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

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

# The nginx block and the units name the /usr/local paths; they get PREFIX's.
install: $(BUILD)/cellucidfs
	install -D -m 0755 $(BUILD)/cellucidfs $(DESTDIR)$(PREFIX)/bin/cellucidfs
	install -D -m 0644 man/cellucidfs.1 $(DESTDIR)$(PREFIX)/share/man/man1/cellucidfs.1
	install -d $(DESTDIR)$(PREFIX)/share/cellucidfs/preview
	install -m 0644 scripts/preview/* $(DESTDIR)$(PREFIX)/share/cellucidfs/preview/
	install -d $(DESTDIR)$(PREFIX)/share/cellucidfs/nginx $(DESTDIR)$(UNITDIR)
	sed 's#/usr/local/share/cellucidfs/#$(PREFIX)/share/cellucidfs/#' scripts/nginx/cellucid.conf \
		>$(DESTDIR)$(PREFIX)/share/cellucidfs/nginx/cellucid.conf
	for u in cellucidfs.service cellucidfs@.service; do \
		sed 's#/usr/local/bin/cellucidfs#$(PREFIX)/bin/cellucidfs#' scripts/$$u >$(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done

# Built with dpkg-buildpackage in a copy of the tree (build/deb/src), so that
# neither this tree's build/ nor the parent directory is touched; the package
# lands in DEBDIR (default: here) once lintian finds no error or warning.
deb: deps
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/src
	cp -a Makefile VERSION README.md anndata codec debian docs fs man scripts tests $(BUILD)/deb/src/
	cd $(BUILD)/deb/src && dpkg-buildpackage -us -uc -b -Jauto
	lintian --fail-on error,warning $(BUILD)/deb/cellucidfs_$(VERSION)_*.deb
	cp $(BUILD)/deb/cellucidfs_$(VERSION)_*.deb $(DEBDIR)/

clean:
	rm -rf build cellucidfs
