# deployfs - plain GNU make, pkg-config for fuse3, libcurl, jansson and libcrypto.
#
#   make                 build ./deployfs
#   make check           unit tests, then integration tests (needs root, /dev/fuse)
#   make check-unit      unit tests only
#   make SAN=1 ...       the same under AddressSanitizer + UBSan (objects in build-san/)
#   make check-valgrind  the daemon under valgrind, on the write-path tests
#   make install         binary, man page, systemd unit; PREFIX=/usr/local, DESTDIR honoured
#   make fuzz            libFuzzer targets (clang)
#   make deb             build/deployfs_VERSION-1_ARCH.deb (+ -dbgsym), lintian-clean

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
# systemd looks in /usr/local/lib/systemd/system too; a package uses /lib/...
UNITDIR   ?= $(PREFIX)/lib/systemd/system
PKGS      := fuse3 libcurl jansson libcrypto
PYTEST    ?= /usr/bin/python3 -m pytest --timeout=180

CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wno-unused-parameter
CPPFLAGS  += -D_GNU_SOURCE -DFUSE_USE_VERSION=314 -DDEPLOYFS_VERSION='"$(VERSION)"' \
             -Ibackend -Ifs $(shell pkg-config --cflags $(PKGS))
LDLIBS    += $(shell pkg-config --libs $(PKGS)) -lpthread

ifeq ($(SAN),1)
BUILD     := build-san
CFLAGS    += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS   += -fsanitize=address,undefined
else
BUILD     := build
endif

BACKEND_SRC := $(sort $(wildcard backend/*.c))
FS_SRC      := $(sort $(wildcard fs/*.c))
OBJ         := $(patsubst %.c,$(BUILD)/%.o,$(BACKEND_SRC) $(FS_SRC))
BIN         := $(BUILD)/deployfs

UNIT_SRC    := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

all: deployfs

deployfs: $(BIN)
	@if [ "$(BUILD)" = build ]; then cp -f $(BIN) deployfs; fi

$(BIN): $(OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

-include $(OBJ:.o=.d)

# A unit test links its own module alone: tests/unit/test_X.c with
# backend/X.c or fs/X.c, plus error.c and log.c. A test that needs more
# names it in UNIT_EXTRA_test_X.
UNIT_COMMON := $(BUILD)/backend/error.o $(BUILD)/backend/log.o
UNIT_EXTRA_test_registry := $(BUILD)/backend/http.o $(BUILD)/backend/reference.o \
                            $(BUILD)/backend/dockercfg.o $(BUILD)/backend/credhelper.o $(BUILD)/backend/sha256.o \
                            $(BUILD)/backend/registry_auth.o $(BUILD)/backend/registry_endpoint.o
UNIT_EXTRA_test_credhelper := $(BUILD)/backend/dockercfg.o
UNIT_EXTRA_test_local := $(BUILD)/backend/jsonpatch.o $(BUILD)/backend/validate.o \
                         $(BUILD)/backend/storedoc.o $(BUILD)/backend/reference.o \
                         $(BUILD)/backend/backend.o $(BUILD)/backend/map.o
UNIT_EXTRA_test_api := $(BUILD)/backend/api_wire.o $(BUILD)/backend/api_http.o \
                       $(BUILD)/backend/api_poll.o $(BUILD)/backend/api_registry.o \
                       $(BUILD)/backend/http.o $(BUILD)/backend/jsonpatch.o \
                       $(BUILD)/backend/storedoc.o $(BUILD)/backend/validate.o \
                       $(BUILD)/backend/reference.o $(BUILD)/backend/map.o \
                       $(BUILD)/backend/backend.o
UNIT_EXTRA_test_glance := $(BUILD)/backend/glance_wire.o $(BUILD)/backend/glance_http.o \
                          $(BUILD)/backend/glance_poll.o $(BUILD)/backend/api_wire.o \
                          $(BUILD)/backend/http.o $(BUILD)/backend/jsonpatch.o \
                          $(BUILD)/backend/storedoc.o $(BUILD)/backend/validate.o \
                          $(BUILD)/backend/reference.o $(BUILD)/backend/map.o \
                          $(BUILD)/backend/backend.o
UNIT_EXTRA_test_storedoc := $(BUILD)/backend/validate.o $(BUILD)/backend/reference.o \
                            $(BUILD)/backend/backend.o
# The write state machine runs against a real model over a local store:
# every module but main.c (no FUSE session: fs.se is NULL).
UNIT_EXTRA_test_write := $(filter-out $(BUILD)/fs/main.o $(BUILD)/fs/write.o,$(OBJ))

# regcheck: the registry check from the command line, for the integration
# tests and tests/bench/registry_latency.sh.
$(BUILD)/tests/regcheck: tests/tools/regcheck.c $(BUILD)/backend/registry.o $(UNIT_EXTRA_test_registry) $(UNIT_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

.SECONDEXPANSION:
$(BUILD)/tests/test_%: tests/unit/test_%.c $$(patsubst %.c,$(BUILD)/%.o,$$(wildcard backend/$$*.c fs/$$*.c)) $(UNIT_COMMON) $$(UNIT_EXTRA_test_$$*)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(LDFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) $(LDLIBS)

check-unit: $(UNIT_BIN)
	@set -e; pass=0; fail=0; \
	for t in $(UNIT_BIN); do \
		if (cd tests/unit && ../../$$t); then pass=$$((pass+1)); \
		else echo "FAIL: $$t"; fail=$$((fail+1)); fi; \
	done; \
	echo "unit: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

check-integration: deployfs $(BUILD)/tests/regcheck
	DEPLOYFS_BIN=$(abspath $(BIN)) REGCHECK=$(abspath $(BUILD)/tests/regcheck) \
		$(PYTEST) -q tests/integration

check: check-unit check-integration

# The daemon under valgrind, on the tests that exercise its write paths.
VALGRIND_TESTS := tests/integration/test_smoke.py tests/integration/test_writes.py \
                  tests/integration/test_editors.py tests/integration/test_images.py
check-valgrind: deployfs
	DEPLOYFS_BIN=$(abspath tests/tools/valgrind-deployfs) DEPLOYFS_REAL_BIN=$(abspath $(BIN)) \
		$(PYTEST) -q $(VALGRIND_TESTS)

bench: deployfs
	DEPLOYFS_BIN=$(abspath $(BIN)) tests/bench/run

FUZZ_EXTRA_storedoc := backend/validate.c backend/reference.c backend/backend.c
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,build-fuzz/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz: $(FUZZ_TARGETS)
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c
	@mkdir -p build-fuzz
	clang $(CPPFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $< \
		$(wildcard backend/$*.c) backend/error.c backend/log.c $(FUZZ_EXTRA_$*) $(LDLIBS)

# mount -t fuse.deployfs and /etc/fstab go through fuse3's mount.fuse3,
# which runs `deployfs SOURCE MOUNTPOINT -o OPTIONS` from PATH.
install: deployfs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 deployfs $(DESTDIR)$(BINDIR)/deployfs
	install -m 0644 man/deployfs.8 $(DESTDIR)$(MANDIR)/man8/deployfs.8
	install -d $(DESTDIR)$(UNITDIR)
	sed 's#/usr/local/bin/deployfs#$(BINDIR)/deployfs#' contrib/deployfs@.service \
		> $(DESTDIR)$(UNITDIR)/deployfs@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/deployfs@.service

# deployfs_<version>-1_<arch>.deb and its -dbgsym in build/, from a staged
# DESTDIR (PREFIX=/usr): stripped, Depends from dpkg-shlibdeps.
deb: deployfs
	contrib/mkdeb.sh $(VERSION) $(abspath build)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/deployfs $(DESTDIR)$(MANDIR)/man8/deployfs.8 \
		$(DESTDIR)$(UNITDIR)/deployfs@.service

clean:
	rm -rf build build-san build-fuzz deployfs

.PHONY: all deployfs check check-unit check-integration check-valgrind bench fuzz install deb uninstall clean
